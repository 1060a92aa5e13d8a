import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPki } from '../../src/dev/pki.ts';

describe('createPki', () => {
  it('issues a serving certificate for loopback and an admin client certificate in system:masters, both signed by the CA', async () => {
    const pki = await createPki(join(await mkdtemp(join(tmpdir(), 'orchard-pki-')), 'pki'));
    const ca = new X509Certificate(await readFile(pki.caCert));
    const server = new X509Certificate(await readFile(pki.serverCert));
    const admin = new X509Certificate(await readFile(pki.adminCert));

    expect(ca.ca).toBe(true);
    expect(server.checkIssued(ca) && server.verify(ca.publicKey)).toBe(true);
    expect(admin.checkIssued(ca) && admin.verify(ca.publicKey)).toBe(true);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(admin.subject).toContain('O=system:masters');
    expect(admin.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    expect(new Date(server.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);

    const spki = (key: ReturnType<typeof createPublicKey>) => key.export({ type: 'spki', format: 'der' });
    expect(spki(createPublicKey(createPrivateKey(await readFile(pki.serverKey)))).equals(spki(server.publicKey))).toBe(true);
    for (const key of [pki.serverKey, pki.adminKey, pki.serviceAccountKey]) expect((await stat(key)).mode & 0o077).toBe(0);
  });
});
