using System.Diagnostics;
using System.Text;

namespace UnifiedLlm.Bench;

/// <summary>The measurements: sequential request latency, throughput at a concurrency, and a stream's TTFT and chunk rate.</summary>
internal static class Measurements
{
    public sealed record Latency(double P50Ms, double P99Ms, double MeanMs);

    /// <summary><paramref name="AfterFirstP50Ms"/>: from the first content chunk to the end of the stream, the part a relay's per-chunk delay adds to.</summary>
    public sealed record Stream(double TtftP50Ms, double TotalP50Ms, double AfterFirstP50Ms, double ChunksPerSecond, int Chunks);

    /// <summary>Requests/s and latency count successful requests only; <paramref name="Errors"/> failed (an error status or a broken connection).</summary>
    public sealed record Throughput(double RequestsPerSecond, Latency Latency, int Errors);

    public static async Task<Latency> SequentialAsync(HttpClient client, string body, int count)
    {
        for (var i = 0; i < Math.Min(10, count); i++)
        {
            await SendAsync(client, body);
        }

        var samples = new double[count];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await SendAsync(client, body);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(samples);
        return new Latency(Percentile(samples, 0.50), Percentile(samples, 0.99), samples.Average());
    }

    public static async Task<Throughput> ConcurrentAsync(HttpClient client, string body, int concurrency, TimeSpan duration)
    {
        var samples = new List<double>();
        var errors = 0;
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, concurrency).Select(async _ =>
        {
            var mine = new List<double>();
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    await SendAsync(client, body);
                    mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    Interlocked.Increment(ref errors);
                }
            }

            return mine;
        }).ToList();
        foreach (var worker in workers)
        {
            samples.AddRange(await worker);
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var sorted = samples.Order().ToArray();
        return new Throughput(sorted.Length / elapsed, new Latency(Percentile(sorted, 0.50), Percentile(sorted, 0.99), sorted.Length == 0 ? double.NaN : sorted.Average()), errors);
    }

    public static async Task<Stream> StreamingAsync(HttpClient client, string body, int count)
    {
        var ttft = new List<double>();
        var totals = new List<double>();
        var afterFirst = new List<double>();
        double gaps = 0, gapMs = 0;
        var chunks = 0;
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            double? first = null;
            chunks = 0;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
                {
                    continue;
                }

                if (line.Contains("\"content\":\"", StringComparison.Ordinal) && !line.Contains("\"content\":\"\"", StringComparison.Ordinal))
                {
                    first ??= Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    chunks++;
                }
            }

            var total = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            ttft.Add(first ?? total);
            totals.Add(total);
            afterFirst.Add(total - (first ?? total));
            // Summed over all streams: a mean of per-stream rates is ruled by the streams whose chunks came in one read.
            gaps += Math.Max(0, chunks - 1);
            gapMs += total - (first ?? total);
        }

        return new Stream(Median(ttft), Median(totals), Median(afterFirst), gapMs > 0 ? gaps / (gapMs / 1000.0) : 0, chunks);
    }

    private static async Task SendAsync(HttpClient client, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri("/v1/chat/completions", UriKind.Relative), content);
        response.EnsureSuccessStatusCode();
        await response.Content.ReadAsByteArrayAsync();
    }

    private static double Median(List<double> values) => Percentile([.. values.Order()], 0.5);

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
