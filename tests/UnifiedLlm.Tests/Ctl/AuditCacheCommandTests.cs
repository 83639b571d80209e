using System.Text.Json;
using System.Text.RegularExpressions;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Gateway.Caching;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Gateway.Caching;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>ullmctl audit, run for real against a real ullmd, tells a request served from the response cache from one that went upstream.</summary>
public sealed class AuditCacheCommandTests
{
    [Fact]
    public async Task Audit_shows_cache_hit_as_the_target_of_a_row_served_from_the_cache_and_cache_in_json()
    {
        await using var cloud = await FakeUpstream.StartAsync();
        await using var host = await CtlHost.StartAsync(nvml: null, CacheRig.CloudRouteConfig(cloud.BaseAddress));
        string missId, hitId;
        using (var client = GatewayHost.UnixClient(host.Daemon.Paths.OpenAiSocket))
        {
            missId = await ChatAsync(client, "miss");
            await WaitForAsync(host, ["cache", "stats", "--json"], r => r.GetProperty("models")[0].GetProperty("entries").ToString() == "1");
            hitId = await ChatAsync(client, "hit");
        }

        var json = (await WaitForAsync(host, ["audit", "--json"], r => r.GetProperty("records").GetArrayLength() == 2)).GetProperty("records");
        var table = await host.CtlAsync("audit");

        Assert.Single(cloud.Requests);
        Assert.Equal(("miss", "cloud/gpt-x"), Record(json, missId));
        Assert.Equal(("hit", ""), Record(json, hitId));
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Matches($@"{Regex.Escape(missId)}\s+-\s+cached\s+cloud/gpt-x\s+200\s", Line(table, missId));
        Assert.Matches($@"{Regex.Escape(hitId)}\s+-\s+cached\s+\(cache hit\)\s+200\s", Line(table, hitId));
        Assert.DoesNotContain("(cache hit)", Line(table, missId), StringComparison.Ordinal);
    }

    /// <summary>Sends the same cacheable chat completion; returns its request id once the cache header says <paramref name="expected"/>.</summary>
    private static async Task<string> ChatAsync(HttpClient client, string expected)
    {
        var (status, body, response) = await Http.SendAsync(client, Http.Post("/v1/chat/completions", CacheRig.Chat(model: "cached")));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(expected, response.Headers.GetValues(CacheGate.Header).Single());
        return response.Headers.GetValues(RequestIds.Header).Single();
    }

    /// <summary>
    /// The JSON answer of ullmctl <paramref name="arguments"/> once <paramref name="ready"/> holds for it: an answer is
    /// stored in the cache, and audited, after it reached the client.
    /// </summary>
    private static async Task<JsonElement> WaitForAsync(CtlHost host, string[] arguments, Func<JsonElement, bool> ready)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var result = await host.CtlAsync(arguments);
            Assert.True(result.ExitCode == 0, result.ToString());
            using var document = JsonDocument.Parse(result.StandardOutput);
            if (ready(document.RootElement))
            {
                return document.RootElement.Clone();
            }

            Assert.True(DateTime.UtcNow < deadline, $"ullmctl {string.Join(' ', arguments)} not as awaited within 20 s: {result}");
            await Task.Delay(200);
        }
    }

    private static (string? Cache, string? Target) Record(JsonElement records, string requestId)
    {
        var record = records.EnumerateArray().Single(r => r.GetProperty("requestId").GetString() == requestId);
        return (record.GetProperty("cache").GetString(), record.GetProperty("target").GetString());
    }

    private static string Line(ProcessResult audit, string requestId) =>
        audit.StandardOutput.Split('\n').Single(l => l.Contains(requestId, StringComparison.Ordinal));
}
