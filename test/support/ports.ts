// SPDX-License-Identifier: MIT
/**
 * ports.ts - a TCP port of the host's loopback that nothing listens on now, for
 * tests that hand a port to something that binds it itself (passt's forwards).
 *
 * Limits: another process may take the port between this answer and its use.
 */
import { once } from 'node:events'
import net from 'node:net'

export async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}
