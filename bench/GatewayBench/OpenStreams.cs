using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace UnifiedLlm.Bench;

/// <summary>
/// Memory per open stream: many slow streams (the stub sends a chunk a second, <see cref="StubUpstream.SlowChunks"/> in
/// all) held open through ullmd at once; its resident set is read from /proc while they run, against the figure just
/// before they start.
/// </summary>
internal sealed record OpenStreams(int Streams, int Completed, int Incomplete, long RssBeforeKiB, long RssPeakKiB, double Seconds, double CpuSeconds)
{
    public const double TargetKiBPerStream = 50;

    public double KiBPerStream => (RssPeakKiB - RssBeforeKiB) / (double)Streams;

    public static async Task<OpenStreams> MeasureAsync(HttpClient ullmd, int ullmdPid, int streams)
    {
        var body = $$"""{"model":"sse/{{StubUpstream.SlowModel}}","messages":[{"role":"user","content":"hello"}],"max_tokens":64,"stream":true}""";
        // Let the collector settle after the other sections, so their garbage is not counted as the streams'.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var before = Rss(ullmdPid);
        var cpuBefore = ProcessCpu.OfTree(ullmdPid);
        var peak = before;
        var started = Stopwatch.GetTimestamp();
        var all = Enumerable.Range(0, streams).Select(_ => OneAsync(ullmd, body)).ToList();
        var running = Task.WhenAll(all);
        while (!running.IsCompleted)
        {
            await Task.WhenAny(running, Task.Delay(250));
            peak = Math.Max(peak, Rss(ullmdPid));
        }

        var chunks = await running;
        var completed = chunks.Count(c => c == StubUpstream.SlowChunks);
        return new OpenStreams(streams, completed, streams - completed, before, peak, Stopwatch.GetElapsedTime(started).TotalSeconds, (ProcessCpu.OfTree(ullmdPid) - cpuBefore).TotalSeconds);
    }

    public string Report()
    {
        var text = new StringBuilder();
        text.AppendLine(F($"## Open streams: {Streams} slow streams held through ullmd at once"));
        text.AppendLine();
        text.AppendLine(F($"{Streams} streamed chats sent at once to ullmd over TCP, for a stub model that sends one chunk a second ({StubUpstream.SlowChunks} chunks, about {StubUpstream.SlowChunks - 1} s a stream); ullmd's VmRSS read from /proc every 250 ms."));
        text.AppendLine();
        text.AppendLine("| streams | completed with every chunk and [DONE] | wall s | ullmd RSS before MiB | ullmd RSS peak MiB | growth per stream KiB | ullmd CPU s |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        text.AppendLine(F($"| {Streams} | {Completed}{(Incomplete > 0 ? $" ({Incomplete} not)" : "")} | {Seconds:0.0} | {RssBeforeKiB / 1024.0:0.0} | {RssPeakKiB / 1024.0:0.0} | {KiBPerStream:0.0} | {CpuSeconds:0.00} |"));
        text.AppendLine();
        return text.ToString();
    }

    /// <summary>Content chunks of one stream, or -1 when it failed or ended without [DONE].</summary>
    private static async Task<int> OneAsync(HttpClient client, string body)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var chunks = 0;
            var done = false;
            while (await reader.ReadLineAsync() is { } line)
            {
                done |= line == "data: [DONE]";
                chunks += line.StartsWith("data: ", StringComparison.Ordinal) && line.Contains("\"content\":\"tok ", StringComparison.Ordinal) ? 1 : 0;
            }

            return done ? chunks : -1;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            Console.Error.WriteLine($"open streams: a stream failed: {e.Message}");
            return -1;
        }
    }

    private static long Rss(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
