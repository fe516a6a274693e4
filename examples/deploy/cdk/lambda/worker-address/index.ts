/**
 * The `Custom::WorkerAddress` resource: the worker address of the stack's KMS
 * signing key, so that `cdk deploy` prints the address to fund before the
 * worker can register. On create and update it reads the key's public key
 * with `kms:GetPublicKey` (the function's only permission besides its log
 * group) and derives the address as the chain does: bech32 with the `allo`
 * prefix of RIPEMD-160(SHA-256(compressed secp256k1 public key)). Delete does
 * nothing. The derivation is a pure function, tested against the official
 * SDK's vectors (test/worker-address.test.ts); the worker derives the same
 * address from the same key (`allora-worker keys show`).
 */
import { createHash } from 'node:crypto';
import { request } from 'node:https';

/** The address prefix of the Allora chain. */
export const ADDRESS_PREFIX = 'allo';

/**
 * The DER prefixes of a secp256k1 SubjectPublicKeyInfo (algorithm
 * id-ecPublicKey, curve secp256k1), then the BIT STRING of the point:
 * uncompressed (65 bytes, what KMS answers) or compressed (33 bytes).
 */
const SPKI_UNCOMPRESSED = Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex');
const SPKI_COMPRESSED = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');

/** The 33-byte compressed point of a secp256k1 SubjectPublicKeyInfo. */
export function compressedPublicKey(spki: Uint8Array): Buffer {
  const der = Buffer.from(spki);
  if (der.length === SPKI_UNCOMPRESSED.length + 65 && der.subarray(0, SPKI_UNCOMPRESSED.length).equals(SPKI_UNCOMPRESSED)) {
    const point = der.subarray(SPKI_UNCOMPRESSED.length);
    if (point[0] === 0x04) {
      const parity = point[64] & 1;
      return Buffer.concat([Buffer.from([parity === 1 ? 0x03 : 0x02]), point.subarray(1, 33)]);
    }
  }
  if (der.length === SPKI_COMPRESSED.length + 33 && der.subarray(0, SPKI_COMPRESSED.length).equals(SPKI_COMPRESSED)) {
    const point = der.subarray(SPKI_COMPRESSED.length);
    if (point[0] === 0x02 || point[0] === 0x03) return Buffer.from(point);
  }
  throw new Error('the public key is not a secp256k1 SubjectPublicKeyInfo: is the key an ECC_SECG_P256K1 key?');
}

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function polymod(values: number[]): number {
  const generators = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let checksum = 1;
  for (const value of values) {
    const top = checksum >>> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    generators.forEach((g, i) => {
      if ((top >>> i) & 1) checksum ^= g;
    });
  }
  return checksum;
}

/** BIP-173 bech32 of `data` (bytes) with human-readable part `hrp`. */
export function bech32(hrp: string, data: Uint8Array): string {
  const words: number[] = [];
  let accumulator = 0;
  let bits = 0;
  for (const byte of data) {
    accumulator = (accumulator << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((accumulator >>> bits) & 31);
    }
  }
  if (bits > 0) words.push((accumulator << (5 - bits)) & 31);
  const expanded = [...hrp].map((c) => c.charCodeAt(0) >>> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
  const checksum = polymod(expanded.concat(words, [0, 0, 0, 0, 0, 0])) ^ 1;
  const check = [0, 1, 2, 3, 4, 5].map((i) => (checksum >>> (5 * (5 - i))) & 31);
  return `${hrp}1${words.concat(check).map((w) => CHARSET[w]).join('')}`;
}

/** The worker address of a secp256k1 SubjectPublicKeyInfo. */
export function workerAddress(spki: Uint8Array): string {
  const sha = createHash('sha256').update(compressedPublicKey(spki)).digest();
  return bech32(ADDRESS_PREFIX, createHash('ripemd160').update(sha).digest());
}

/** What CloudFormation sends a custom resource. */
export interface CustomResourceEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: { readonly KeyId?: string };
}

/** The answer CloudFormation expects at `ResponseURL`. */
export interface CustomResourceResponse {
  readonly Status: 'SUCCESS' | 'FAILED';
  readonly Reason?: string;
  readonly PhysicalResourceId: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly Data?: { readonly Address: string; readonly PublicKey: string };
}

/** Reads a key's DER SubjectPublicKeyInfo. */
export type GetPublicKey = (keyId: string) => Promise<Uint8Array>;
/** Delivers the response. */
export type Respond = (url: string, response: CustomResourceResponse) => Promise<void>;

/** Handles one event; every outcome, failures included, is answered. */
export async function handle(event: CustomResourceEvent, getPublicKey: GetPublicKey, respond: Respond): Promise<void> {
  const base = { StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId };
  let response: CustomResourceResponse;
  if (event.RequestType === 'Delete') {
    response = { ...base, Status: 'SUCCESS', PhysicalResourceId: event.PhysicalResourceId ?? event.LogicalResourceId };
  } else {
    try {
      const keyId = event.ResourceProperties.KeyId;
      if (!keyId) throw new Error('the KeyId property is missing');
      const spki = await getPublicKey(keyId);
      const address = workerAddress(spki);
      response = {
        ...base,
        Status: 'SUCCESS',
        PhysicalResourceId: address,
        Data: { Address: address, PublicKey: compressedPublicKey(spki).toString('hex') },
      };
    } catch (e) {
      response = {
        ...base,
        Status: 'FAILED',
        Reason: `worker address of ${event.ResourceProperties.KeyId ?? 'the key'}: ${(e as Error).message}`.slice(0, 1000),
        PhysicalResourceId: event.PhysicalResourceId ?? event.LogicalResourceId,
      };
    }
  }
  await respond(event.ResponseURL, response);
}

/** PUTs the response to CloudFormation's pre-signed S3 URL. */
export function putResponse(url: string, response: CustomResourceResponse): Promise<void> {
  const body = JSON.stringify(response);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode !== undefined && res.statusCode < 300 ? resolve() : reject(new Error(`response PUT: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The Lambda entry point, with the KMS client of the Lambda runtime's AWS SDK. */
export async function handler(event: CustomResourceEvent): Promise<void> {
  const kms = require('@aws-sdk/client-kms');
  const client = new kms.KMSClient({});
  const getPublicKey: GetPublicKey = async (keyId) => {
    const output = await client.send(new kms.GetPublicKeyCommand({ KeyId: keyId }));
    if (!output.PublicKey) throw new Error('GetPublicKey returned no PublicKey');
    return output.PublicKey as Uint8Array;
  };
  await handle(event, getPublicKey, putResponse);
}
