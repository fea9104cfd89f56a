// Load generation: autocannon's programmatic API, in this process, on loopback.
// Latency percentiles are computed here from every response's own time (autocannon
// records its histogram in whole milliseconds, too coarse for a local read).
import autocannon from 'autocannon';

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/**
 * One closed-loop run: `connections` keep-alive connections, each sending the next
 * request as soon as the previous answer arrives, for `durationS` seconds. With
 * `expectBody`, every answer's body is compared with it (see `mismatches`).
 */
export async function runLoad({ url, headers, connections, durationS, expectBody }) {
  const latencies = [];
  const instance = autocannon({
    url,
    headers,
    connections,
    pipelining: 1,
    duration: durationS,
    timeout: 10,
    // Every answer is compared with the one checked before the run (counted in mismatches).
    ...(expectBody === undefined ? {} : { expectBody }),
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const r = await instance;
  latencies.sort((a, b) => a - b);
  const ok = r['2xx'];
  return {
    rps: ok / r.duration,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? null,
    requests: r.requests.total,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    mismatches: r.mismatches,
    timeouts: r.timeouts,
    durationS: r.duration,
    autocannon: {
      requestsPerSecondMean: r.requests.average,
      requestsPerSecondStddev: r.requests.stddev,
      latencyP50Ms: r.latency.p50,
      latencyP99Ms: r.latency.p99,
      latencyMeanMs: r.latency.average,
      statusCodeStats: r.statusCodeStats,
    },
  };
}
