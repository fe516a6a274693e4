/**
 * The worker-address custom resource (lambda/worker-address): the address
 * derivation against the official SDK's vectors, with public keys encoded by
 * OpenSSL as KMS encodes them, and the answers it sends CloudFormation.
 */
import * as assert from 'node:assert/strict';
import { createECDH, createHash, createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import {
  bech32,
  compressedPublicKey,
  CustomResourceEvent,
  CustomResourceResponse,
  handle,
  workerAddress,
} from '../lambda/worker-address';

/** Wallets of allora-sdk-py 1.3.0's golden vectors (shared/vectors). */
const WALLETS = [
  {
    privateKey: 'c4a48e2fce1481cd3294b4490f6678090ea98d3d0e5cd984558ab0968741b104',
    publicKey: '024f4e2ad99c34d60b9ba6283c9431a8418af8673212961f97a77b6377fcd05b62',
    address: 'allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv',
  },
  {
    privateKey: '8088c2ed2149c34f6d6533b774da4e1692eb5cb426fdbaef6898eeda489630b7',
    publicKey: '02ba66a84cf7839af172a13e7fc9f5e7008cb8bca1585f8f3bafb3039eda3c1fdd',
    address: 'allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx',
  },
];

/** The DER SubjectPublicKeyInfo of a private key's public key, as OpenSSL writes it. */
function spki(privateKey: string, compressed = false): Buffer {
  const ecdh = createECDH('secp256k1');
  ecdh.setPrivateKey(Buffer.from(privateKey, 'hex'));
  const point = ecdh.getPublicKey(undefined, 'uncompressed');
  const key = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'secp256k1',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
  const der = key.export({ type: 'spki', format: 'der' });
  if (!compressed) return der;
  // The same key with its point compressed (33 bytes).
  const prefix = Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex');
  return Buffer.concat([prefix, ecdh.getPublicKey(undefined, 'compressed')]);
}

test('the address of a public key is the one the official SDK derives', () => {
  for (const wallet of WALLETS) {
    for (const compressed of [false, true]) {
      const der = spki(wallet.privateKey, compressed);
      assert.equal(compressedPublicKey(der).toString('hex'), wallet.publicKey);
      assert.equal(workerAddress(der), wallet.address);
    }
  }
  // Both parities of y: the compressed point is Node's own compression.
  const prefixes = new Set<number>();
  for (let i = 1; i <= 8; i++) {
    const privateKey = createHash('sha256').update(`key ${i}`).digest('hex');
    const ecdh = createECDH('secp256k1');
    ecdh.setPrivateKey(Buffer.from(privateKey, 'hex'));
    const expected = ecdh.getPublicKey(undefined, 'compressed') as Buffer;
    prefixes.add(expected[0]);
    assert.deepEqual(compressedPublicKey(spki(privateKey)), expected);
  }
  assert.deepEqual([...prefixes].sort(), [0x02, 0x03]);
  // BIP-173's own test vector.
  assert.equal(bech32('a', new Uint8Array()), 'a12uel5l');
});

test('a key of another curve or garbage is refused', () => {
  const p256 = Buffer.from(
    '3059301306072a8648ce3d020106082a8648ce3d030107034200046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
    'hex',
  );
  for (const der of [p256, Buffer.from('garbage'), spki(WALLETS[0].privateKey).subarray(0, 80)]) {
    assert.throws(() => workerAddress(der), /not a secp256k1 SubjectPublicKeyInfo/);
  }
});

function event(type: CustomResourceEvent['RequestType'], keyId?: string): CustomResourceEvent {
  return {
    RequestType: type,
    ResponseURL: 'https://cloudformation-custom-resource-response.example/abc',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/AlloraWorker/1',
    RequestId: 'request-1',
    LogicalResourceId: 'KeyAddress',
    PhysicalResourceId: type === 'Create' ? undefined : WALLETS[0].address,
    ResourceProperties: keyId === undefined ? {} : { KeyId: keyId },
  };
}

/** Runs the handler with a fake KMS; returns what it asked and answered. */
async function run(e: CustomResourceEvent, publicKey: () => Promise<Uint8Array>) {
  const asked: string[] = [];
  const answers: [string, CustomResourceResponse][] = [];
  await handle(
    e,
    (keyId) => {
      asked.push(keyId);
      return publicKey();
    },
    async (url, response) => {
      answers.push([url, response]);
    },
  );
  assert.equal(answers.length, 1, 'exactly one answer');
  assert.equal(answers[0][0], e.ResponseURL);
  return { asked, answer: answers[0][1] };
}

test('create and update answer the address; delete reads nothing', async () => {
  const arn = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  for (const type of ['Create', 'Update'] as const) {
    const { asked, answer } = await run(event(type, arn), async () => spki(WALLETS[0].privateKey));
    assert.deepEqual(asked, [arn]);
    assert.deepEqual(answer, {
      Status: 'SUCCESS',
      PhysicalResourceId: WALLETS[0].address,
      StackId: event(type).StackId,
      RequestId: 'request-1',
      LogicalResourceId: 'KeyAddress',
      Data: { Address: WALLETS[0].address, PublicKey: WALLETS[0].publicKey },
    });
  }
  const { asked, answer } = await run(event('Delete', arn), async () => {
    throw new Error('not called');
  });
  assert.deepEqual(asked, []);
  assert.equal(answer.Status, 'SUCCESS');
  assert.equal(answer.PhysicalResourceId, WALLETS[0].address);
});

test('a refusal or a wrong key fails the resource with the reason', async () => {
  const arn = 'arn:aws:kms:us-east-1:123456789012:key/x';
  const denied = await run(event('Create', arn), async () => {
    throw new Error('AccessDeniedException: not authorized to perform kms:GetPublicKey');
  });
  assert.equal(denied.answer.Status, 'FAILED');
  assert.match(denied.answer.Reason!, /worker address of arn:aws:kms:.*key\/x: AccessDeniedException/);
  assert.equal(denied.answer.PhysicalResourceId, 'KeyAddress');
  const wrong = await run(event('Create', arn), async () => Buffer.from('not a key'));
  assert.equal(wrong.answer.Status, 'FAILED');
  assert.match(wrong.answer.Reason!, /ECC_SECG_P256K1/);
  const missing = await run(event('Create'), async () => spki(WALLETS[0].privateKey));
  assert.equal(missing.answer.Status, 'FAILED');
  assert.deepEqual(missing.asked, []);
});
