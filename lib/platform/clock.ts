// The one clock. Tests move time with setClock instead of faking timers globally.
let nowFn: () => number = () => Date.now()

export const now = (): Date => new Date(nowFn())
export const nowMs = (): number => nowFn()
export function setClock(fn: (() => number) | undefined): void {
  nowFn = fn ?? (() => Date.now())
}
