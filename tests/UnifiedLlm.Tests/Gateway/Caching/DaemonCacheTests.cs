using System.Text.Json;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Gateway.Caching;

/// <summary>
/// The response cache inside the real ullmd: a persisted entry survives a restart, and ullmctl cache stats and clear
/// report and drop it over the admin socket.
/// </summary>
public sealed class DaemonCacheTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact(Timeout = 180_000)]
    public async Task A_persisted_entry_survives_a_restart_and_ullmctl_reports_and_clears_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cloud = await FakeUpstream.StartAsync();
        var paths = DaemonProcess.WriteConfig(dir, CacheRig.CloudRouteConfig(cloud.BaseAddress, "{ ttl_seconds = 3600, max_entries = 10, persist = true }"));
        var request = CacheRig.Chat(model: "cached");

        string? firstCache, secondCache, thirdCache;
        ProcessResult stats, unknown, clear, human;
        await using (var daemon = await StartAsync(paths))
        {
            firstCache = await PostAsync(paths, request);
            stats = await daemon.CtlAsync("cache", "stats", "--json");
            unknown = await daemon.CtlAsync("cache", "stats", "--model", "nosuch");
            await daemon.StopAsync();
        }

        ct.ThrowIfCancellationRequested();

        await using (var daemon = await StartAsync(paths))
        {
            secondCache = await PostAsync(paths, request);
            human = await daemon.CtlAsync("cache", "stats", "--model", "cached");
            clear = await daemon.CtlAsync("cache", "clear", "--model", "cached", "--json");
            thirdCache = await PostAsync(paths, request);
        }

        Assert.Equal(("miss", "hit", "miss"), (firstCache, secondCache, thirdCache));
        Assert.Equal(2, cloud.Requests.Count);
        Assert.Equal(0, stats.ExitCode);
        using (var json = JsonDocument.Parse(stats.StandardOutput))
        {
            var row = Assert.Single(json.RootElement.GetProperty("models").EnumerateArray());
            Assert.Equal("cached", row.GetProperty("model").GetString());
            Assert.Equal("1", row.GetProperty("entries").ToString());
            Assert.Equal("1", row.GetProperty("misses").ToString());
            Assert.True(row.GetProperty("persist").GetBoolean());
        }

        Assert.Equal(5, unknown.ExitCode);
        Assert.Contains("'nosuch' has no response cache (models and routes with one: cached)", unknown.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, human.ExitCode);
        Assert.Matches(@"cached\s+1\s+\d+\s+10\s+", human.StandardOutput);
        Assert.Contains("persist", human.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(0, clear.ExitCode);
        using (var json = JsonDocument.Parse(clear.StandardOutput))
        {
            Assert.Equal("1", json.RootElement.GetProperty("entries").ToString());
            Assert.Equal("cached", json.RootElement.GetProperty("models")[0].GetString());
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task A_reloaded_ttl_applies_to_the_entries_already_stored()
    {
        await using var cloud = await FakeUpstream.StartAsync();
        var paths = DaemonProcess.WriteConfig(dir, CacheRig.CloudRouteConfig(cloud.BaseAddress, "{ ttl_seconds = 3600 }"));
        var request = CacheRig.Chat(model: "cached");
        await using var daemon = await StartAsync(paths);

        var stored = await PostAsync(paths, request);
        var storedAt = DateTime.UtcNow;
        dir.Write("config.toml", File.ReadAllText(paths.ConfigFile).Replace("ttl_seconds = 3600", "ttl_seconds = 10", StringComparison.Ordinal));
        var reload = await daemon.CtlAsync("reload");
        // The reload keeps the entry: it is younger than the new TTL.
        var kept = await PostAsync(paths, request);
        var keptAfter = DateTime.UtcNow - storedAt;
        await Task.Delay(storedAt.AddSeconds(11) - DateTime.UtcNow, TestContext.Current.CancellationToken);
        // Under the TTL it was stored with, it would be served for the best part of an hour yet.
        var expired = await PostAsync(paths, request);

        Assert.True(reload.ExitCode == 0, reload.ToString());
        Assert.True(keptAfter < TimeSpan.FromSeconds(10), $"the request after the reload came {keptAfter} after the entry was stored, past the new TTL");
        Assert.Equal(("miss", "hit", "miss"), (stored, kept, expired));
        Assert.Equal(2, cloud.Requests.Count);
    }

    private async Task<DaemonProcess> StartAsync(DaemonPaths paths)
    {
        var daemon = await DaemonProcess.StartAsync(dir, paths);
        await daemon.Notify.WaitForAsync("READY=1", TimeSpan.FromSeconds(60));
        return daemon;
    }

    private static async Task<string?> PostAsync(DaemonPaths paths, string json)
    {
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);
        var (status, body, response) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", json));
        Assert.True(status == 200, body.ToString());
        return response.Headers.TryGetValues("x-ullm-cache", out var values) ? values.Single() : null;
    }
}
