using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace UnifiedLlm.Bench.ColdLoad;

/// <summary>One cold load of llama-server started by the benchmark itself, as the baseline.</summary>
internal sealed record DirectSample(double StartToReadyMs, double ReadyToFirstTokenMs, double DetectionMs, double SpawnToLogStartMs, double LoadMs)
{
    public double TotalMs => StartToReadyMs + ReadyToFirstTokenMs;
}

/// <summary>
/// Starts llama-server with ullmd's argv on a free port, polls GET /health every millisecond from the moment it is
/// spawned until it answers 200, then times a streamed chat's first token, and kills it. With
/// <c>throughSetsid</c> it is exec'd through setsid, in a session of its own, as ullmd's process supervisor starts it.
/// </summary>
internal static class DirectLoad
{
    private static readonly TimeSpan LoadLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan LineLimit = TimeSpan.FromSeconds(5);

    public static async Task<DirectSample> RunAsync(BackendCommand command, bool throughSetsid, HttpClient http, CancellationToken cancellationToken)
    {
        var port = FreePort();
        var start = new ProcessStartInfo(throughSetsid ? "setsid" : command.Executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (throughSetsid)
        {
            start.ArgumentList.Add(command.Executable);
        }

        foreach (var argument in command.WithPort(port))
        {
            start.ArgumentList.Add(argument);
        }

        // As ullmd launches it in CPU mode: every GPU hidden.
        start.Environment["CUDA_VISIBLE_DEVICES"] = string.Empty;
        var lines = new ConcurrentQueue<(DateTimeOffset, string)>();
        var baseAddress = new Uri($"http://127.0.0.1:{port}/");
        var spawned = DateTimeOffset.UtcNow;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command.Executable}");
        try
        {
            process.OutputDataReceived += (_, e) => Keep(lines, e.Data);
            process.ErrorDataReceived += (_, e) => Keep(lines, e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var ready = await WaitHealthyAsync(http, new Uri(baseAddress, "health"), process, spawned, cancellationToken);
            var first = await StreamedChat.FirstTokenAsync(http, new Uri(baseAddress, "v1/chat/completions"), "direct", cancellationToken);
            var line = await ReadyLineAsync(lines, spawned, cancellationToken);
            return new DirectSample(
                (ready - spawned).TotalMilliseconds,
                (first - ready).TotalMilliseconds,
                (ready - line.ReadyAt).TotalMilliseconds,
                (line.LogStartedAt - spawned).TotalMilliseconds,
                line.SinceLogStart.TotalMilliseconds);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static async Task<DateTimeOffset> WaitHealthyAsync(HttpClient http, Uri health, Process process, DateTimeOffset spawned, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(health, cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return DateTimeOffset.UtcNow;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (process.HasExited || DateTimeOffset.UtcNow - spawned > LoadLimit)
            {
                throw new InvalidOperationException($"llama-server on {health} exited or was not ready within {LoadLimit.TotalMinutes} min");
            }

            await Task.Delay(1, cancellationToken);
        }
    }

    /// <summary>The "model loaded" line, which on a busy machine can reach the reader of llama-server's output after the first token did.</summary>
    private static async Task<ReadyLine> ReadyLineAsync(ConcurrentQueue<(DateTimeOffset, string)> lines, DateTimeOffset spawned, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + LineLimit;
        while (true)
        {
            if (ReadyLine.Find(lines, spawned) is { } line)
            {
                return line;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new InvalidOperationException($"llama-server printed no \"model loaded\" line within {LineLimit.TotalSeconds} s");
            }

            await Task.Delay(10, cancellationToken);
        }
    }

    private static void Keep(ConcurrentQueue<(DateTimeOffset, string)> lines, string? line)
    {
        if (line is not null)
        {
            lines.Enqueue((DateTimeOffset.UtcNow, line));
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
