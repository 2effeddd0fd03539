// Stand-in for k6/crypto's hmac, on node's crypto. Only the encodings k6
// documents are accepted; base64rawurl is unpadded base64url.
import { createHmac } from 'node:crypto';

const encodings = { hex: 'hex', base64: 'base64', base64rawurl: 'base64url' };

export function hmac(algorithm, secret, data, outputEncoding) {
  if (!(outputEncoding in encodings)) {
    throw new Error(`k6/crypto stand-in: output encoding ${outputEncoding} not supported`);
  }
  return createHmac(algorithm, secret).update(data).digest(encodings[outputEncoding]);
}

export default { hmac };
