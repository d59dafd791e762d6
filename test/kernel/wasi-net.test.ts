// SPDX-License-Identifier: MIT
// WASI programs on the kernel's sockets: httpd.c serves on a listening socket
// runWasi hands it (after its preopen: fd 4), client.c talks to it on a
// connected one, both programs on one kernel; then the same server is reached
// from JS through k.net.connect by Node's own http client and by raw bytes,
// and from the host through `uklkl run --tcplisten --forward` (passt).
// node:wasi cannot hand a program a socket, so the oracle is Node's http
// parser and the bytes and hashes computed here.
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Kernel, UklklError, startKernel } from '../../src/index.js'
import { runCommand } from '../../src/cli/run.js'
import { buildProgram, fnv1a, runKernel } from '../fixtures/wasi/support.js'
import { freePort } from '../support/ports.js'

const PORT = 8080
let work = ''
let httpd: Uint8Array<ArrayBuffer>
let client: Uint8Array<ArrayBuffer>

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'uklkl-wasi-net-'))
  httpd = buildProgram('httpd', work)
  client = buildProgram('client', work)
})

afterAll(() => rmSync(work, { recursive: true, force: true }))

/** client.c's body: byte i is i * 31 + 7. */
function clientBody(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + 7) & 0xff)
}

/** What httpd.c answers a POST: its head and one line. */
function expectedReply(method: string, target: string, body: Uint8Array): string {
  const line = `${method} ${target} ${body.length} ${fnv1a(body)}\n`
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${line.length}\r\nConnection: close\r\n\r\n${line}`
}

/** A request by Node's http client over a kernel connection; resolves with status and body. */
function request(k: Kernel, method: string, target: string, body?: Uint8Array): Promise<{ status: number, body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ method, path: target, createConnection: () => k.net.connect({ port: PORT }) as never }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body === undefined ? undefined : Buffer.from(body))
  })
}

/** Raw bytes over a kernel connection, everything the server sends back. */
function exchange(k: Kernel, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = k.net.connect({ port: PORT })
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', () => {
      socket.end()
      resolve(Buffer.concat(chunks))
    })
    socket.on('error', reject)
    // In pieces that cut the head and body anywhere.
    for (let at = 0; at < bytes.length; at += 7001) socket.write(bytes.subarray(at, at + 7001))
  })
}

describe('WASI programs on kernel sockets', () => {
  it('a server program and a client program on one kernel, the server also reached by Node\'s http client', async () => {
    await using k = await startKernel()
    await k.net.up('lo')
    await k.fs.mkdir('/srv')
    let listening = (): void => undefined
    const up = new Promise<void>((resolve) => {
      listening = resolve
    })
    const server = runKernel(k, httpd, {
      args: ['httpd', '4'], preopens: { '/srv': '/srv' }, sockets: [{ listen: `127.0.0.1:${PORT}` }], onSpawn: () => listening(),
    })
    await up

    const upload = clientBody(1 << 20)
    const fromC = await runKernel(k, client, { args: ['client', '/from-c', String(upload.length)], sockets: [{ connect: `127.0.0.1:${PORT}` }] })
    expect(fromC).toEqual({ code: 0, stdout: expectedReply('POST', '/from-c', upload), stderr: '' })

    const note = new TextEncoder().encode('hello from node\n')
    const posted = await request(k, 'POST', '/from-node', note)
    expect(posted.status).toBe(200)
    expect(posted.body.toString()).toBe(`POST /from-node ${note.length} ${fnv1a(note)}\n`)

    // 512 KiB back: many sock_send calls of the program.
    const big = await request(k, 'GET', '/big')
    expect(big.status).toBe(200)
    expect(big.body.length).toBe(512 * 1024)
    expect(big.body.equals(Buffer.from(Uint8Array.from({ length: 512 * 1024 }, (_, i) => i % 251)))).toBe(true)

    const raw = clientBody(300_000)
    const head = new TextEncoder().encode(`POST /raw HTTP/1.1\r\nHost: kernel\r\nContent-Length: ${raw.length}\r\n\r\n`)
    const answer = await exchange(k, Buffer.concat([head, raw]))
    expect(answer.toString('latin1')).toBe(expectedReply('POST', '/raw', raw))

    expect(await server).toEqual({
      code: 0, stderr: '',
      stdout: [
        // fd 3 is the preopen, the socket comes after it.
        'listening on fd 4',
        `conn 0: POST /from-c ${upload.length} ${fnv1a(upload)}`,
        `conn 1: POST /from-node ${note.length} ${fnv1a(note)}`,
        `conn 2: GET /big 0 ${fnv1a(new Uint8Array(0))}`,
        `conn 3: POST /raw ${raw.length} ${fnv1a(raw)}`,
        '',
      ].join('\n'),
    })
  })

  it('a socket that cannot be made stops the run before the program starts, naming the address', async () => {
    await using k = await startKernel()
    await k.net.up('lo')
    const refused = await k.runWasi(client, { sockets: [{ connect: '127.0.0.1:9' }] }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(UklklError)
    expect(String(refused)).toMatch(/cannot connect to 127\.0\.0\.1:9 \(ECONNREFUSED\)/)
    await expect(k.runWasi(client, { sockets: [{ listen: 'localhost' }] })).rejects.toThrow(/HOST:PORT/)
    // Without a socket handed in the server says so, as a program would.
    const alone = await runKernel(k, httpd, { args: ['httpd'] })
    expect(alone).toEqual({ code: 2, stdout: '', stderr: 'httpd: no socket was handed in\n' })
  })
})

describe('uklkl run --tcplisten', () => {
  it('the host reaches a WASI server through --forward (a passt NIC): Node\'s http client on 127.0.0.1', async () => {
    const hostPort = await freePort()
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    let printed = ''
    stdout.on('data', (c: Buffer) => {
      printed += c.toString()
    })
    stderr.on('data', (c: Buffer) => {
      printed += c.toString()
    })
    const run = runCommand(['--tcplisten', `0.0.0.0:${PORT}`, '--forward', `${hostPort}:${PORT}`, path.join(work, 'httpd.wasm'), '--', '1'],
      { stdin: Readable.from([]), stdout, stderr })
    // The default preopen "/" is fd 3, the socket fd 4; the program says so once it runs.
    while (!printed.includes('listening on fd 4\n')) {
      if (await Promise.race([run.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 50))])) break
    }
    const body = new TextEncoder().encode('from the host\n')
    const reply = await new Promise<{ status: number, text: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: hostPort, method: 'POST', path: '/host' }, (res) => {
        let text = ''
        res.on('data', (c: Buffer) => {
          text += c.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      })
      req.on('error', reject)
      req.end(Buffer.from(body))
    })
    expect(reply).toEqual({ status: 200, text: `POST /host ${body.length} ${fnv1a(body)}\n` })
    expect(await run).toBe(0)
    expect(printed).toBe(`listening on fd 4\nconn 0: POST /host ${body.length} ${fnv1a(body)}\n`)
  })
})

