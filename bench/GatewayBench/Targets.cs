using System.Globalization;
using System.Text;

namespace UnifiedLlm.Bench;

/// <summary>The gateway issue's targets, judged from this run's figures: met or not met, with the figure either way.</summary>
internal static class Targets
{
    private const double MinShareOfNginx = 0.80;
    private const double MaxAddedP99Ms = 1.0;
    private const int P99Concurrency = 64;

    // Per-chunk relay below this is within the measurement's noise on this machine (a 32-chunk stream's p50 moves by more).
    private const double ChunkNoiseMs = 0.005;

    public static string Verdicts(Dictionary<(string Path, int Concurrency), Measurements.Throughput> throughput, Dictionary<string, double> perChunk, int[] concurrencies)
    {
        var text = new StringBuilder();
        text.AppendLine("## Targets (issue #6), judged from this run");
        text.AppendLine();
        foreach (var path in new[] { PathNames.UllmdTcp, PathNames.UllmdUnix })
        {
            var shares = concurrencies
                .Where(c => throughput.ContainsKey((path, c)) && throughput.ContainsKey((PathNames.Nginx, c)))
                .Select(c => (Concurrency: c, Share: throughput[(path, c)].RequestsPerSecond / throughput[(PathNames.Nginx, c)].RequestsPerSecond))
                .ToList();
            if (shares.Count > 0)
            {
                var met = shares.All(s => s.Share >= MinShareOfNginx);
                var figures = string.Join(", ", shares.Select(s => F($"c={s.Concurrency}: {s.Share:P0}")));
                var logged = concurrencies
                    .Where(c => throughput.ContainsKey((path, c)) && throughput.ContainsKey((PathNames.NginxLogged, c)))
                    .Select(c => F($"c={c}: {throughput[(path, c)].RequestsPerSecond / throughput[(PathNames.NginxLogged, c)].RequestsPerSecond:P0}"))
                    .ToList();
                var beside = logged.Count > 0 ? $"; of {PathNames.NginxLogged}'s, for reference: {string.Join(", ", logged)}" : "";
                text.AppendLine(F($"- {path} requests/s ≥ {MinShareOfNginx:P0} of nginx's: **{(met ? "met" : "not met")}** ({figures}{beside})"));
            }
        }

        if (throughput.TryGetValue((PathNames.Direct, P99Concurrency), out var direct))
        {
            foreach (var path in new[] { PathNames.UllmdTcp, PathNames.UllmdUnix, PathNames.Nginx, PathNames.NginxLogged })
            {
                if (throughput.TryGetValue((path, P99Concurrency), out var through))
                {
                    var added = through.Latency.P99Ms - direct.Latency.P99Ms;
                    var verdict = path is PathNames.Nginx or PathNames.NginxLogged ? "for reference" : added <= MaxAddedP99Ms ? "**met**" : "**not met**";
                    text.AppendLine(F($"- {path} added p99 ≤ {MaxAddedP99Ms:0} ms at concurrency {P99Concurrency}: {verdict} ({added:0.000} ms; p99 {through.Latency.P99Ms:0.000} ms vs direct {direct.Latency.P99Ms:0.000} ms)"));
                }
            }
        }

        if (perChunk.Count > 0)
        {
            var nginx = perChunk.GetValueOrDefault(PathNames.Nginx, 0);
            foreach (var path in new[] { PathNames.UllmdTcp, PathNames.UllmdUnix })
            {
                if (perChunk.TryGetValue(path, out var ms))
                {
                    var met = ms <= Math.Max(nginx, 0) + ChunkNoiseMs;
                    text.AppendLine(F($"- {path} no extra delay per streamed chunk (at most nginx's + {ChunkNoiseMs:0.000} ms): **{(met ? "met" : "not met")}** ({ms:0.0000} ms per chunk; nginx {nginx:0.0000} ms)"));
                }
            }
        }

        return text.ToString();
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
