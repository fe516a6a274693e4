//! Fault injection for tests of clients and workers against the devnet.
//!
//! Two kinds of fault live here:
//!
//! - faults of the devnet itself, switched through [`DevnetHandle`] at run
//!   time: every gRPC call answering `UNAVAILABLE`
//!   ([`DevnetHandle::set_grpc_unavailable`]), websocket connections that
//!   acknowledge subscriptions and then send nothing
//!   ([`DevnetHandle::stall_websocket`]), block production paused in timed
//!   mode ([`DevnetHandle::pause_blocks`]), and a mempool that accepts
//!   transactions (CheckTx code 0) and then silently loses them
//!   ([`DevnetHandle::drop_accepted_txs`]);
//! - faults of the network between a client and the devnet: [`FaultProxy`],
//!   a TCP proxy that can pass traffic through, refuse connections, accept
//!   and hang, or reset connections.
//!
//! Sequence mismatches need no switch: [`DevnetHandle::bump_sequence`]
//! makes the next transaction of an account fail CheckTx with code 32.
//! Websocket drops and outages are [`DevnetHandle::drop_websocket_connections`]
//! and [`DevnetHandle::stop_websocket`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use allora_devnet::{Devnet, FaultProxy, ProxyMode};
//!
//! let devnet = Devnet::builder().manual_blocks().build().start().await?;
//! let proxy = FaultProxy::start(devnet.grpc_addr()).await?;
//! // Point clients at `proxy.endpoint()`, then:
//! proxy.set_mode(ProxyMode::Hang);
//! devnet.set_grpc_unavailable(true);
//! devnet.set_grpc_unavailable(false);
//! proxy.set_mode(ProxyMode::PassThrough);
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::DevnetError;
use super::DevnetHandle;

/// The devnet's own fault switches, shared by its servers and block producer.
#[derive(Debug, Default)]
pub(crate) struct FaultSwitches {
    grpc_unavailable: AtomicBool,
    websocket_stalled: AtomicBool,
    blocks_paused: AtomicBool,
}

impl FaultSwitches {
    pub(crate) fn grpc_unavailable(&self) -> bool {
        self.grpc_unavailable.load(Ordering::SeqCst)
    }

    pub(crate) fn websocket_stalled(&self) -> bool {
        self.websocket_stalled.load(Ordering::SeqCst)
    }

    pub(crate) fn blocks_paused(&self) -> bool {
        self.blocks_paused.load(Ordering::SeqCst)
    }
}

/// The gRPC interceptor: while the switch is on, every call is answered
/// `UNAVAILABLE` before it reaches a service (as a node that is restarting
/// or shedding load answers).
#[allow(clippy::result_large_err)] // The interceptor signature is tonic's.
pub(crate) fn grpc_gate(
    switches: std::sync::Arc<FaultSwitches>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |request| {
        if switches.grpc_unavailable() {
            Err(tonic::Status::unavailable(
                "devnet fault injection: node unavailable",
            ))
        } else {
            Ok(request)
        }
    }
}

impl DevnetHandle {
    /// While `on`, every gRPC call is answered with status `UNAVAILABLE`.
    pub fn set_grpc_unavailable(&self, on: bool) {
        self.shared
            .faults
            .grpc_unavailable
            .store(on, Ordering::SeqCst);
    }

    /// While `on`, websocket connections (open and new) still answer
    /// requests (a subscription is acknowledged) but get no block frames.
    /// Blocks produced meanwhile are never sent on those connections.
    pub fn stall_websocket(&self, on: bool) {
        self.shared
            .faults
            .websocket_stalled
            .store(on, Ordering::SeqCst);
    }

    /// While `on`, timed block production skips its ticks: the chain stands
    /// still. [`DevnetHandle::produce_block`] still works.
    pub fn pause_blocks(&self, on: bool) {
        self.shared.faults.blocks_paused.store(on, Ordering::SeqCst);
    }

    /// While `on`, transactions that pass CheckTx are answered code 0 (with
    /// their hash) and then dropped from the mempool: they are never
    /// included. Their ante effects (sequence, fee) last until the next
    /// block, as on a node that evicts them.
    pub fn drop_accepted_txs(&self, on: bool) {
        self.shared.chain().drop_accepted = on;
    }
}

/// What a [`FaultProxy`] does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forwards bytes both ways.
    PassThrough,
    /// Stops listening: connection attempts are refused by the OS. Open
    /// connections are closed.
    Refuse,
    /// Accepts connections and never answers; open connections stop
    /// forwarding. Everything held is closed when the mode changes.
    Hang,
    /// Accepts connections and resets them at once (TCP RST); open
    /// connections are reset too.
    Reset,
}

/// A TCP proxy on 127.0.0.1 in front of one address, switched between
/// [`ProxyMode`]s at run time. Dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on an ephemeral loopback port, forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Result<Self, DevnetError> {
        let bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        let bind_error = |source| DevnetError::Bind {
            server: "fault proxy",
            addr: bind,
            source,
        };
        let listener = TcpListener::bind(bind).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let (mode, mode_rx) = watch::channel(ProxyMode::PassThrough);
        let task = tokio::spawn(accept_loop(listener, addr, target, mode_rx));
        Ok(FaultProxy { addr, mode, task })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy as a plaintext gRPC endpoint (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the mode; open connections follow at once.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        *self.mode.borrow()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    target: SocketAddr,
    mut mode: watch::Receiver<ProxyMode>,
) {
    let mut listener = Some(listener);
    // Connection tasks die with the accept loop (the proxy's drop).
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let current = *mode.borrow_and_update();
        match (&listener, current) {
            (Some(_), ProxyMode::Refuse) => listener = None,
            (None, ProxyMode::Refuse) => {}
            (None, _) => match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(error) => {
                    tracing::warn!(%addr, %error, "fault proxy could not listen again; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            (Some(_), _) => {}
        }
        let Some(active) = &listener else {
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            changed = mode.changed() => if changed.is_err() { return },
            accepted = active.accept() => {
                if let Ok((client, _)) = accepted {
                    connections.spawn(connection(client, target, mode.clone(), current));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one accepted connection in the mode it was accepted in; any mode
/// change ends it (reset in [`ProxyMode::Reset`], closed otherwise), so that
/// clients reconnect into the new mode.
async fn connection(
    mut client: TcpStream,
    target: SocketAddr,
    mut mode: watch::Receiver<ProxyMode>,
    accepted_in: ProxyMode,
) {
    match accepted_in {
        ProxyMode::Reset | ProxyMode::Refuse => {
            let _ = client.set_zero_linger();
        }
        ProxyMode::Hang => {
            let _ = mode.changed().await;
        }
        ProxyMode::PassThrough => {
            let Ok(mut upstream) = TcpStream::connect(target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                _ = mode.changed() => {
                    if *mode.borrow() == ProxyMode::Reset {
                        let _ = client.set_zero_linger();
                    }
                    if *mode.borrow() == ProxyMode::Hang {
                        // Hang the open connection: keep it, forward nothing.
                        drop(upstream);
                        let _ = mode.changed().await;
                    }
                }
            }
        }
    }
}
