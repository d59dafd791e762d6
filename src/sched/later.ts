// SPDX-License-Identifier: MIT
/**
 * later.ts - a result to come, handed to its one subscriber synchronously, in
 * the turn it settles: the JSPI backend's way of saying "the fiber stopped".
 *
 * A promise would cost a microtask per link of the chain trampoline → scheduler
 * → run loop, and a syscall's caller waits for the whole chain; with Later the
 * scheduler does what the stop calls for at once. Whoever subscribes must not
 * run another fiber from inside the callback (it may run on the stopping
 * fiber's own stack, inside its host op): the run loop goes on in a microtask.
 */
export class Later<T> {
  #subscriber: { onValue: (value: T) => void, onError: (error: unknown) => void } | null = null
  #settled: { value: T } | { error: unknown } | null = null

  /** Subscribe once; called at once if it has settled already. */
  subscribe(onValue: (value: T) => void, onError: (error: unknown) => void): void {
    if (this.#settled === null) this.#subscriber = { onValue, onError }
    else if ('value' in this.#settled) onValue(this.#settled.value)
    else onError(this.#settled.error)
  }

  settle(value: T): void {
    this.#take({ value })?.onValue(value)
  }

  fail(error: unknown): void {
    this.#take({ error })?.onError(error)
  }

  #take(settled: { value: T } | { error: unknown }): { onValue: (value: T) => void, onError: (error: unknown) => void } | null {
    if (this.#settled !== null) throw new Error('a Later settles once')
    this.#settled = settled
    const subscriber = this.#subscriber
    this.#subscriber = null
    return subscriber
  }
}
