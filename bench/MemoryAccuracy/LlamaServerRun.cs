using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Bench.MemoryAccuracy;

/// <summary>
/// Starts llama-server CPU-only on a model with --load-mode none (no mmap, so every weight byte is resident, as the estimate assumes),
/// waits for /health, runs one completion so the compute buffers are used, and reads its memory.
/// </summary>
internal static class LlamaServerRun
{
    /// <summary><paramref name="totalContext"/> is --ctx-size, split over <paramref name="slots"/> caches as ullmd's argv splits it.</summary>
    public static async Task<ServerMeasurement> MeasureAsync(string llamaServer, string model, ulong totalContext, int slots, KvCacheType cache)
    {
        var port = FreePort();
        var start = new ProcessStartInfo(llamaServer)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--model", model, "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
            "--ctx-size", totalContext.ToString(CultureInfo.InvariantCulture), "--parallel", slots.ToString(CultureInfo.InvariantCulture),
            "--no-kv-unified", "--n-gpu-layers", "0", "--load-mode", "none", "--fit", "off", "--log-verbosity", "4",
            "--cache-type-k", KvCacheType.NameOf(cache.K), "--cache-type-v", KvCacheType.NameOf(cache.V), "--flash-attn", "auto",
        })
        {
            start.ArgumentList.Add(arg);
        }

        using var server = Process.Start(start) ?? throw new InvalidOperationException($"could not start {llamaServer}");
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        server.OutputDataReceived += (_, e) => Keep(log, e.Data);
        server.ErrorDataReceived += (_, e) => Keep(log, e.Data);
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(5) };
            await WaitForHealthAsync(http, server);
            using var body = new StringContent("{\"prompt\":\"hello world\",\"n_predict\":8}", Encoding.UTF8, "application/json");
            using var completion = await http.PostAsync(new Uri("completion", UriKind.Relative), body);
            completion.EnsureSuccessStatusCode();
            return new ServerMeasurement(ProcessMemory.Read(server.Id), LlamaServerMemoryLog.Parse(log));
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }
    }

    private static void Keep(System.Collections.Concurrent.ConcurrentQueue<string> log, string? line)
    {
        if (line is not null)
        {
            log.Enqueue(line);
        }
    }

    private static async Task WaitForHealthAsync(HttpClient http, Process server)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"llama-server exited with {server.ExitCode} before it was ready");
            }

            try
            {
                using var health = await http.GetAsync(new Uri("health", UriKind.Relative));
                if (health.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("llama-server was not ready within 5 minutes");
            }

            await Task.Delay(100);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
