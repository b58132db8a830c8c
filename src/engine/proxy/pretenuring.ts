/**
 * Turns off V8's allocation-site pretenuring for this process: the largest single piece of the
 * proxy's CPU per request that was Keygate's to remove (issue 9 §6; measured in
 * docs/decisions/0007, "2026-12-05: it was pretenuring, and it is off").
 *
 * Why: V8 watches each object-literal site and, when most of its objects were alive at a
 * scavenge, starts treating the site as long-lived. A proxy's request objects (the library's
 * per-request `ctx` with its thirteen handler arrays, both messages) are all alive at a scavenge
 * that lands mid-request, so the feedback says "long-lived" for objects that live a millisecond.
 * Once that happens, every scavenge keeps whole request graphs alive and promotes them: measured,
 * ~7 KB per request surviving and 22–26 µs of scavenge per request, against ~0.4 KB and ~3 µs
 * with pretenuring off. Whether a run falls into it depends on timing at start-up, which is why
 * bare http-mitm-proxy showed it in some runs and not others.
 *
 * Setting a V8 flag after start-up is allowed for this one: it is read at each allocation and
 * each GC, not at start-up (`test/engine/proxy/pretenuring.test.ts` proves it takes effect).
 * It is process-wide, so it is set where the proxy is made: every process that proxies wants it
 * (serve, the app's main process, the bench), and nothing in Keygate relies on pretenuring.
 */
import v8 from 'node:v8';

let turnedOff = false;

export function turnOffAllocationSitePretenuring(): void {
  if (turnedOff) return;
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
  turnedOff = true;
}
