import { generateKeyPairSync, randomBytes } from 'node:crypto'
import forge from 'node-forge'

export interface Pem {
  cert: string
  key: string
}

/**
 * Self-signed certificates for the lab and tests: a CA and server certificates it signs. node-forge
 * builds the X.509 structures (Node's crypto cannot); the RSA keys come from node:crypto, which makes
 * them ~100× faster than forge's pure-JavaScript key generation.
 */
export function createCa (commonName = 'Portcullis Lab CA'): Pem {
  const keys = rsaKeys()
  const cert = baseCert(keys.publicKey, commonName)
  cert.setIssuer(cert.subject.attributes)
  cert.setExtensions([{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}

export function createServerCert (ca: Pem, hostnames: string[]): Pem {
  const keys = rsaKeys()
  const cert = baseCert(keys.publicKey, hostnames[0] ?? 'localhost')
  const caCert = forge.pki.certificateFromPem(ca.cert)
  cert.setIssuer(caCert.subject.attributes)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hostnames.map(h => /^[\d.]+$/.test(h) ? { type: 7, ip: h } : { type: 2, value: h }) }
  ])
  cert.sign(forge.pki.privateKeyFromPem(ca.key), forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}

function rsaKeys (): { publicKey: forge.pki.rsa.PublicKey, privateKey: forge.pki.rsa.PrivateKey } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
  return { publicKey: forge.pki.publicKeyFromPem(publicKey), privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey }
}

function baseCert (publicKey: forge.pki.rsa.PublicKey, commonName: string): forge.pki.Certificate {
  const cert = forge.pki.createCertificate()
  cert.publicKey = publicKey
  cert.serialNumber = '01' + randomBytes(15).toString('hex')
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600 * 1000)
  cert.setSubject([{ name: 'commonName', value: commonName }])
  return cert
}
