// SPDX-License-Identifier: MIT
/*
 * nolibc.test.ts - src/nolibc through the fixture test/fixtures/nolibc.c: the C
 * self-test of every family it provides, then what the console sees of the stdio
 * line buffering and of a failed assert. Each test gets a fresh fixture instance.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { PanicError } from '../src/errors.js'
import { loadFixture, prepareFixture } from './support/fixture.js'

/** Instantiate the prebuilt fixture and run its self-test or print a few kilobytes. */
const BUDGET_MS = 10_000

describe('nolibc', () => {
  beforeAll(() => prepareFixture('nolibc'))

  it('passes its C self-test: printf, strings, strto*, malloc, qsort, ctype, errno, assert', async () => {
    await using fx = await loadFixture('nolibc')
    const failures = await fx.run('nolibc_selftest')
    // On failure the console holds one "FAIL nolibc.c:<line>: ..." line per broken check.
    expect(failures, fx.console()).toBe(0)
    expect(fx.console()).toMatch(/^nolibc_selftest: \d+ checks, 0 failed\n$/)
  }, BUDGET_MS)

  it('holds an unfinished stdout line until fflush, while stderr lines go out whole', async () => {
    await using fx = await loadFixture('nolibc')
    await fx.run('nolibc_print_partial')
    expect(fx.console()).toBe('stderr: whole line\n')
    expect(await fx.run('nolibc_flush')).toBe(0)
    expect(fx.console()).toBe('stderr: whole line\nstdout: partial')
  }, BUDGET_MS)

  it('sends each finished line at its newline and keeps the rest', async () => {
    await using fx = await loadFixture('nolibc')
    expect(await fx.run('nolibc_print_line_and_partial')).toBe('first line\nsecond, unfinished'.length)
    expect(fx.console()).toBe('first line\n')
    await fx.run('nolibc_flush')
    expect(fx.console()).toBe('first line\nsecond, unfinished')
  }, BUDGET_MS)

  it('delivers a line longer than the stream buffer whole and in order', async () => {
    // BUFSIZ is 256, so this line leaves the buffer in 12 pieces.
    const length = 3000
    await using fx = await loadFixture('nolibc')
    expect(await fx.run('nolibc_print_long_line', length)).toBe(length + 1)
    const digits = Array.from({ length }, (_, i) => String(i % 10)).join('')
    expect(fx.console()).toBe(`${digits}\n`)
  }, BUDGET_MS)

  it('reports a failed assert with file, line, function and expression, then panics', async () => {
    await using fx = await loadFixture('nolibc')
    await expect(fx.run('nolibc_assert_fails')).rejects.toBeInstanceOf(PanicError)
    expect(fx.console()).toMatch(
      /nolibc\.c:\d+: nolibc_assert_fails: Assertion `two \+ 2 == 5' failed\.\nabort\(\)\n/,
    )
  }, BUDGET_MS)
})
