//! Speaking whichever emissions version the chain speaks: the protocol in
//! use (detected from the chain, or pinned), and the emissions queries made
//! through it. See [`crate::emissions`] for the versions and how detection
//! works.

use std::sync::RwLock;

use tonic::codegen::http::uri::PathAndQuery;

use super::{ChainClient, ClientError};
use crate::emissions::{self, EmissionsVersion, Protocol, Query, Unsupported, WindowMode};
use crate::proto::emissions::v10;

/// How many versions past the newest supported one (and before the oldest)
/// are probed to name the version of a chain this build does not speak.
const UNSUPPORTED_PROBES: u32 = 4;

/// The protocol a client speaks, shared by its clones.
#[derive(Debug, Default)]
pub(crate) struct ProtocolState {
    /// A version fixed by configuration: never probed for, never changed.
    pinned: Option<EmissionsVersion>,
    current: RwLock<Option<Protocol>>,
    /// One detection at a time.
    detecting: tokio::sync::Mutex<()>,
}

impl ProtocolState {
    pub(crate) fn new(pinned: Option<EmissionsVersion>) -> Self {
        ProtocolState {
            pinned,
            ..ProtocolState::default()
        }
    }

    fn get(&self) -> Option<Protocol> {
        *self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, protocol: Protocol) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(protocol);
    }
}

/// What probing one service said.
enum Probe {
    /// The node serves it (it answered, even with an error of its own).
    Answers,
    /// The node does not serve it (`UNIMPLEMENTED`).
    Unimplemented,
}

impl Probe {
    /// What a probe's answer says; errors other than the node's own answer
    /// (transport, deadline) are passed on, as nothing can be concluded.
    fn of<T>(answer: Result<T, ClientError>) -> Result<Probe, ClientError> {
        match answer {
            Ok(_) => Ok(Probe::Answers),
            Err(ClientError::Status { code, .. }) if emissions::is_unimplemented(code) => {
                Ok(Probe::Unimplemented)
            }
            Err(ClientError::Status { .. } | ClientError::NotFound(_)) => Ok(Probe::Answers),
            Err(other) => Err(other),
        }
    }
}

/// A probe's answer type: any answer will do, and an empty message reads
/// any bytes.
type AnyAnswer = v10::GetParamsRequest;

impl ChainClient {
    /// The protocol in use, when known (detected or set); makes no call.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol.get()
    }

    /// The emissions version fixed by [`ClientConfig::emissions_version`](super::ClientConfig::emissions_version), if any.
    pub fn pinned_emissions_version(&self) -> Option<EmissionsVersion> {
        self.protocol.pinned
    }

    /// This client (the same connections and endpoint health) pinned to
    /// emissions `version`, as [`ClientConfig::emissions_version`](super::ClientConfig::emissions_version)
    /// does: the version is not detected and upgrades are not followed.
    /// The new client and its clones share their protocol; this one keeps
    /// its own.
    pub fn with_emissions_version(&self, version: EmissionsVersion) -> ChainClient {
        ChainClient {
            pool: std::sync::Arc::clone(&self.pool),
            deadline: self.deadline,
            protocol: std::sync::Arc::new(ProtocolState::new(Some(version))),
        }
    }

    /// The protocol in use; asks the chain on first use (see
    /// [`detect_emissions`](Self::detect_emissions)).
    pub async fn emissions(&self) -> Result<Protocol, ClientError> {
        match self.protocol.get() {
            Some(protocol) => Ok(protocol),
            None => self.detect_emissions().await,
        }
    }

    /// Uses `protocol` from now on without asking the chain (all clones of
    /// this client follow).
    pub fn set_protocol(&self, protocol: Protocol) {
        self.protocol.set(protocol);
    }

    /// Asks the chain which protocol it speaks now and uses it from then on
    /// (all clones of this client follow):
    ///
    /// 1. the version: the newest supported one whose `QueryService` answers
    ///    `GetParams` (a node answers a service it does not serve with
    ///    `UNIMPLEMENTED`), unless a version is pinned by configuration;
    /// 2. the windows: wall-clock when the version has scheduler epochs and
    ///    `GetTopicEpochs` answers (chain v0.18 on), else blocks.
    ///
    /// Errors: [`ClientError::UnsupportedEmissions`] when no supported
    /// version answers (naming the one that does, if a probe of the versions
    /// around them finds it); transport errors as they come (nothing is
    /// concluded from a node that did not answer).
    pub async fn detect_emissions(&self) -> Result<Protocol, ClientError> {
        let _one_at_a_time = self.protocol.detecting.lock().await;
        let version = match self.protocol.pinned {
            Some(version) => version,
            None => self.find_version().await?,
        };
        let messages =
            version
                .messages()
                .ok_or(ClientError::UnsupportedEmissions(Unsupported {
                    chain: Some(version),
                }))?;
        let windows = match messages.query_path(Query::TopicEpochs) {
            Some(path) => {
                let probe = v10::GetTopicEpochsRequest { topic_id: 1 };
                let answer = self.unary::<_, AnyAnswer>(Query::TopicEpochs.method(), path, probe);
                match Probe::of(answer.await)? {
                    Probe::Answers => WindowMode::WallClock,
                    Probe::Unimplemented => WindowMode::Blocks,
                }
            }
            None => WindowMode::Blocks,
        };
        let protocol = Protocol::new(version, windows)?;
        let previous = self.protocol.get();
        self.protocol.set(protocol);
        if previous != Some(protocol) {
            tracing::info!(%protocol, "emissions protocol of the chain");
        }
        Ok(protocol)
    }

    /// The newest supported version the chain answers; else the error names
    /// the version it does answer, if a probe finds it.
    async fn find_version(&self) -> Result<EmissionsVersion, ClientError> {
        let mut supported: Vec<EmissionsVersion> = EmissionsVersion::supported().collect();
        supported.sort_unstable_by(|a, b| b.cmp(a));
        for version in &supported {
            if let Probe::Answers = self.probe_params(*version).await? {
                return Ok(*version);
            }
        }
        let newest = supported.first().map_or(0, |v| v.number());
        let oldest = supported.last().map_or(1, |v| v.number());
        let newer = (newest + 1..=newest + UNSUPPORTED_PROBES).map(EmissionsVersion::new);
        let older = (oldest.saturating_sub(UNSUPPORTED_PROBES).max(1)..oldest)
            .rev()
            .map(EmissionsVersion::new);
        for version in newer.chain(older) {
            if let Probe::Answers = self.probe_params(version).await? {
                return Err(ClientError::UnsupportedEmissions(Unsupported {
                    chain: Some(version),
                }));
            }
        }
        Err(ClientError::UnsupportedEmissions(Unsupported {
            chain: None,
        }))
    }

    /// Whether `version`'s query service answers `GetParams`.
    async fn probe_params(&self, version: EmissionsVersion) -> Result<Probe, ClientError> {
        let method = Query::Params.method();
        let path = format!("/{}/{method}", version.query_service());
        let answer = self.unary::<_, AnyAnswer>(method, path, v10::GetParamsRequest {});
        Probe::of(answer.await)
    }

    /// Makes an emissions query in the protocol in use (detected first if
    /// unknown). A version that does not serve the query gives
    /// [`ClientError::NotServed`].
    pub(crate) async fn emissions_query<Req, Resp>(
        &self,
        query: Query,
        request: Req,
    ) -> Result<Resp, ClientError>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + 'static,
    {
        let protocol = self.emissions().await?;
        let messages = protocol.messages();
        let (method, path) = messages
            .query_method(query)
            .zip(messages.query_path(query))
            .ok_or(ClientError::NotServed {
                query,
                version: protocol.version(),
            })?;
        self.unary(method, path, request).await
    }

    /// One unary call to a method given by its path.
    async fn unary<Req, Resp>(
        &self,
        method: &'static str,
        path: String,
        request: Req,
    ) -> Result<Resp, ClientError>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + 'static,
    {
        let path = PathAndQuery::try_from(path).map_err(|e| ClientError::Malformed {
            method,
            reason: format!("invalid gRPC path: {e}"),
        })?;
        self.call(method, |channel| {
            let request = request.clone();
            let path = path.clone();
            async move {
                let mut grpc = tonic::client::Grpc::new(channel);
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::unknown(format!("service was not ready: {e}")))?;
                grpc.unary(
                    tonic::Request::new(request),
                    path,
                    tonic::codec::ProstCodec::<Req, Resp>::default(),
                )
                .await
            }
        })
        .await
    }
}

impl ClientError {
    /// Whether this error suggests the chain no longer speaks the emissions
    /// protocol in use (an upgrade): an emissions service answered
    /// `UNIMPLEMENTED` ("unknown service emissions.v9.QueryService"), the
    /// chain could not resolve the type URL of an emissions message
    /// ([`emissions::refuses_message_type`]), or no supported version
    /// answers. Whoever sees it should detect the protocol again
    /// ([`ChainClient::detect_emissions`]).
    pub fn suggests_other_emissions_version(&self) -> bool {
        match self {
            ClientError::Status { code, message, .. } => {
                emissions::is_unimplemented(*code) && message.contains("emissions.v")
            }
            ClientError::Chain(e) => {
                emissions::refuses_message_type(&e.codespace, e.code, &e.raw_log)
            }
            ClientError::UnsupportedEmissions(_) => true,
            _ => false,
        }
    }
}
