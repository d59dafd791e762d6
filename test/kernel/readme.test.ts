// SPDX-License-Identifier: MIT
// The README's examples hold: its TypeScript blocks type-check as a consumer of the
// package's emitted .d.ts under strict flags (no DOM lib, skipLibCheck off), without a
// `!` or a cast, and its plain-JavaScript example runs on Node and prints what it says.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const readme = readFileSync(path.join(repo, 'README.md'), 'utf8')

interface Block {
  lang: string
  /** The README line the block's code starts on. */
  line: number
  code: string
}

function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)$/.exec(lines[i] ?? '')
    if (open === null) continue
    const end = lines.indexOf('```', i + 1)
    blocks.push({ lang: open[1] ?? '', line: i + 2, code: lines.slice(i + 1, end).join('\n') })
    i = end
  }
  return blocks
}

/** The consumer's compiler options: the strictest a user may have, and no DOM. */
const CONSUMER_OPTIONS = {
  target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'],
  strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, skipLibCheck: false, noEmit: true,
}

describe('the README', () => {
  const blocks = codeBlocks(readme)
  const tsBlocks = blocks.filter((b) => b.lang === 'ts')
  const jsBlocks = blocks.filter((b) => b.lang === 'js')
  let tmp = ''
  let consumer = ''

  beforeAll(() => {
    // The package as it is published: dist/ (built by the global setup from src/ with
    // the generated API), next to the kernel image it loads by default.
    tmp = mkdtempSync(path.join(os.tmpdir(), 'uklkl-readme-'))
    const pkg = path.join(tmp, 'uklkl')
    mkdirSync(pkg)
    symlinkSync(path.join(repo, 'dist'), path.join(pkg, 'dist'))
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({
      // The published entry points, as package.json declares them.
      name: 'uklkl', type: 'module', exports: (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { exports: unknown }).exports,
    }))
    symlinkSync(path.join(repo, 'build'), path.join(pkg, 'build'))
    consumer = path.join(tmp, 'consumer')
    mkdirSync(path.join(consumer, 'node_modules', '@types'), { recursive: true })
    symlinkSync(pkg, path.join(consumer, 'node_modules', 'uklkl'))
    symlinkSync(path.join(repo, 'node_modules/@types/node'), path.join(consumer, 'node_modules/@types/node'))
    writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ type: 'module' }))
  })

  afterAll(() => {
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true })
  })

  it('has TypeScript examples and a plain-JavaScript one', () => {
    expect(tsBlocks.length).toBeGreaterThanOrEqual(5)
    expect(jsBlocks.length).toBe(1)
  })

  it('shows no `!` and no cast in its TypeScript', () => {
    for (const block of tsBlocks) {
      // The code without its one-line strings and comments, which may say anything.
      const code = block.code.replace(/'(?:[^'\\\n]|\\.)*'|`(?:[^`\\\n]|\\.)*`/g, "''").replace(/\/\/.*$/gm, '')
      expect(code, `README line ${block.line}`).not.toMatch(/[\w)\]]!(?!=)/)
      expect(code, `README line ${block.line}`).not.toMatch(/\bas\s+(?!const\b)\w/)
    }
  })

  it('type-checks every TypeScript block against the emitted .d.ts, strict and without DOM', () => {
    const files = tsBlocks.map((block) => {
      const file = `readme-line-${block.line}.ts`
      writeFileSync(path.join(consumer, file), `${block.code}\n`)
      return file
    })
    writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions: CONSUMER_OPTIONS, files }))
    const result = spawnSync(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', consumer],
      { cwd: consumer, encoding: 'utf8' })
    expect(result.stdout + result.stderr, 'diagnostics (file names give the README line)').toBe('')
    expect(result.status).toBe(0)
  })

  it('runs the plain-JavaScript example on Node and it prints what the README says', () => {
    const block = jsBlocks[0]
    const promised = /`node example\.mjs` prints `([^`]+)`/.exec(readme)?.[1]
    expect(promised, 'the README says what the example prints').toBeDefined()
    writeFileSync(path.join(consumer, 'example.mjs'), `${block?.code ?? ''}\n`)
    const result = spawnSync(process.execPath, ['example.mjs'], { cwd: consumer, encoding: 'utf8', timeout: 120_000 })
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe(promised)
    expect(result.status).toBe(0)
  })
})
