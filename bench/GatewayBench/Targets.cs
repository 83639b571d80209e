using System.Globalization;
using System.Text;

namespace UnifiedLlm.Bench;

/// <summary>
/// The gateway issue's targets (#17), judged from this run's figures: met or not met, with the figure either way, and
/// beside each the spread of the yardstick's own rounds, which says how far this machine lets the verdict be trusted.
/// </summary>
internal static class Targets
{
    private const double MinShareOfNginx = 0.95;
    private const double MaxCpuOfBareRelay = 1.1;
    private const double MaxAddedP99OfNginx = 1.5;
    private const int P99Concurrency = 64;

    // Per-chunk relay below this is within the measurement's noise on this machine (a 32-chunk stream's p50 moves by more).
    private const double ChunkNoiseMs = 0.005;

    public static string Verdicts(
        Dictionary<(string Path, int Concurrency), Measurements.Throughput> throughput,
        Dictionary<(string Path, int Concurrency), (double Low, double High)> spread,
        Dictionary<(string Path, int Concurrency), double> cpuPerRequest,
        Dictionary<string, double> perChunk,
        OpenStreams? openStreams,
        int[] concurrencies)
    {
        var text = new StringBuilder();
        text.AppendLine("## Targets (issue #17), judged from this run");
        text.AppendLine();
        string Yardstick(string path, int c) => spread.TryGetValue((path, c), out var s) ? F($"{s.Low:0.00}–{s.High:0.00}") : "?";
        foreach (var path in new[] { PathNames.UllmdTcp, PathNames.UllmdUnix })
        {
            var shares = concurrencies
                .Where(c => throughput.ContainsKey((path, c)) && throughput.ContainsKey((PathNames.Nginx, c)))
                .Select(c => (Concurrency: c, Share: throughput[(path, c)].RequestsPerSecond / throughput[(PathNames.Nginx, c)].RequestsPerSecond))
                .ToList();
            if (shares.Count > 0)
            {
                var met = shares.All(s => s.Share >= MinShareOfNginx);
                var figures = string.Join(", ", shares.Select(s => F($"c={s.Concurrency}: {s.Share:P0} (nginx's rounds {Yardstick(PathNames.Nginx, s.Concurrency)}, ours {Yardstick(path, s.Concurrency)})")));
                text.AppendLine(F($"- {path} requests/s ≥ {MinShareOfNginx:P0} of nginx's: **{(met ? "met" : "not met")}** ({figures})"));
            }
        }

        var unixVsTcp = concurrencies
            .Where(c => throughput.ContainsKey((PathNames.UllmdTcp, c)) && throughput.ContainsKey((PathNames.UllmdUnix, c)))
            .Select(c => (Concurrency: c, Ratio: throughput[(PathNames.UllmdUnix, c)].RequestsPerSecond / throughput[(PathNames.UllmdTcp, c)].RequestsPerSecond))
            .ToList();
        if (unixVsTcp.Count > 0)
        {
            var met = unixVsTcp.All(r => r.Ratio >= 1);
            text.AppendLine(F($"- ullmd's unix socket at least as fast as its TCP: **{(met ? "met" : "not met")}** (unix / TCP requests/s: {string.Join(", ", unixVsTcp.Select(r => F($"c={r.Concurrency}: {r.Ratio:0.00}")))})"));
        }

        foreach (var path in new[] { PathNames.UllmdTcp, PathNames.UllmdUnix })
        {
            var ratios = concurrencies
                .Where(c => cpuPerRequest.ContainsKey((path, c)) && cpuPerRequest.ContainsKey((PathNames.BareRelay, c)))
                .Select(c => (Concurrency: c, Ratio: cpuPerRequest[(path, c)] / cpuPerRequest[(PathNames.BareRelay, c)], Ours: cpuPerRequest[(path, c)], Relay: cpuPerRequest[(PathNames.BareRelay, c)]))
                .ToList();
            if (ratios.Count > 0)
            {
                var met = ratios.All(r => r.Ratio <= MaxCpuOfBareRelay);
                var figures = string.Join(", ", ratios.Select(r => F($"c={r.Concurrency}: {r.Ratio:0.00}x ({r.Ours:0} vs {r.Relay:0} µs)")));
                text.AppendLine(F($"- {path} CPU per request ≤ {MaxCpuOfBareRelay:0.0}x the bare .NET relay's: **{(met ? "met" : "not met")}** ({figures})"));
            }
        }

        if (throughput.TryGetValue((PathNames.Direct, P99Concurrency), out var direct) && throughput.TryGetValue((PathNames.Nginx, P99Concurrency), out var nginx))
        {
            var nginxAdded = nginx.Latency.P99Ms - direct.Latency.P99Ms;
            foreach (var path in new[] { PathNames.UllmdTcp, PathNames.UllmdUnix })
            {
                if (throughput.TryGetValue((path, P99Concurrency), out var through))
                {
                    var added = through.Latency.P99Ms - direct.Latency.P99Ms;
                    var met = added <= MaxAddedP99OfNginx * Math.Max(nginxAdded, 0);
                    text.AppendLine(F($"- {path} added p99 at concurrency {P99Concurrency} ≤ {MaxAddedP99OfNginx:0.0}x nginx's: **{(met ? "met" : "not met")}** ({added:0.000} ms vs nginx's {nginxAdded:0.000} ms; p99 {through.Latency.P99Ms:0.000} ms, nginx {nginx.Latency.P99Ms:0.000} ms, direct {direct.Latency.P99Ms:0.000} ms)"));
                }
            }
        }

        if (perChunk.Count > 0)
        {
            var nginxChunk = perChunk.GetValueOrDefault(PathNames.Nginx, 0);
            foreach (var path in new[] { PathNames.UllmdTcp, PathNames.UllmdUnix })
            {
                if (perChunk.TryGetValue(path, out var ms))
                {
                    var met = ms <= Math.Max(nginxChunk, 0) + ChunkNoiseMs;
                    text.AppendLine(F($"- {path} no extra delay per streamed chunk (at most nginx's + {ChunkNoiseMs:0.000} ms): **{(met ? "met" : "not met")}** ({ms:0.0000} ms per chunk; nginx {nginxChunk:0.0000} ms)"));
                }
            }
        }

        if (openStreams is not null)
        {
            var met = openStreams.KiBPerStream <= OpenStreams.TargetKiBPerStream && openStreams.Incomplete == 0;
            text.AppendLine(F($"- memory per open stream ≤ {OpenStreams.TargetKiBPerStream:0} KiB, every stream completing: **{(met ? "met" : "not met")}** ({openStreams.KiBPerStream:0.0} KiB per stream over {openStreams.Streams}; {openStreams.Completed} of {openStreams.Streams} completed)"));
        }

        return text.ToString();
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
