// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { NODE_NETWORK } from './node/network.ts';

x509.cryptoProvider.set(webcrypto as Crypto);

/** ECDSA P-256: kube-apiserver, kubectl and Node's TLS all accept it, and keys generate instantly. */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A local stack lives for a day or a CI run; a year keeps a long-lived dev stack working. */
const VALIDITY_DAYS = 365;

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Client certificate in `system:masters`: what `kubectl` and tests authenticate as. */
  readonly adminCert: string;
  readonly adminKey: string;
  /** Service account token signing key pair (private key signs, public key verifies). */
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

type KeyPair = CryptoKeyPair;

async function keyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as KeyPair;
}

async function privatePem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function publicPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('spki', key);
  return x509.PemConverter.encode(der, 'PUBLIC KEY');
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

function validity(): { notBefore: Date; notAfter: Date } {
  // Back-dated by an hour so that a clock skew between processes cannot make a fresh cert invalid.
  const notBefore = new Date(Date.now() - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + VALIDITY_DAYS * 86_400_000);
  return { notBefore, notAfter };
}

interface LeafRequest {
  readonly subject: string;
  readonly usage: 'server' | 'client';
  readonly hosts?: readonly string[];
}

async function leaf(ca: x509.X509Certificate, caKeys: KeyPair, request: LeafRequest) {
  const keys = await keyPair();
  const usage = request.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([usage]),
    await x509.AuthorityKeyIdentifierExtension.create(ca, false),
  ];
  if (request.hosts) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        request.hosts.map((host) => (/^[\d.]+$/.test(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host })),
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: request.subject,
    issuer: ca.subject,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions,
  });
  return { cert: cert.toString('pem'), key: await privatePem(keys.privateKey) };
}

/**
 * Creates a fresh certificate authority and the certificates the local control plane needs, and
 * writes them as PEM files under `dir` (private keys readable by the owner only).
 */
export async function createPki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caKeys = await keyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=orchard-dev-ca',
    ...validity(),
    signingAlgorithm: ALGORITHM,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const server = await leaf(ca, caKeys, {
    subject: 'CN=kube-apiserver',
    usage: 'server',
    // The node's address and the `kubernetes` Service's: pods reach the API server through either.
    hosts: ['localhost', '127.0.0.1', NODE_NETWORK.address, NODE_NETWORK.kubernetesServiceIp, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${NODE_NETWORK.clusterDomain}`],
  });
  const admin = await leaf(ca, caKeys, { subject: 'CN=orchard-admin, O=system:masters', usage: 'client' });
  const sa = await keyPair();

  const pems: Record<keyof typeof PKI_FILES, string> = {
    caCert: ca.toString('pem'),
    serverCert: server.cert,
    serverKey: server.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    serviceAccountKey: await privatePem(sa.privateKey),
    serviceAccountPub: await publicPem(sa.publicKey),
  };
  const pki = pkiPaths(dir);
  for (const name of Object.keys(PKI_FILES) as (keyof typeof PKI_FILES)[]) {
    await writeFile(pki[name], pems[name], { mode: PKI_FILES[name].endsWith('.key') ? 0o600 : 0o644 });
  }
  return pki;
}

const PKI_FILES = {
  caCert: 'ca.crt',
  serverCert: 'apiserver.crt',
  serverKey: 'apiserver.key',
  adminCert: 'admin.crt',
  adminKey: 'admin.key',
  serviceAccountKey: 'sa.key',
  serviceAccountPub: 'sa.pub',
} as const;

/** Where createPki wrote a stack's certificates and keys. */
export function pkiPaths(dir: string): Pki {
  return { dir, ...(Object.fromEntries(Object.entries(PKI_FILES).map(([name, file]) => [name, join(dir, file)])) as Omit<Pki, 'dir'>) };
}
