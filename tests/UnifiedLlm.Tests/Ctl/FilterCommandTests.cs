using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// The filters and options of models, events, audit and keys, run by the real ullmctl against a real ullmd. ullmctl
/// runs in a zone east of UTC (Asia/Kolkata, +05:30) where times matter: a time without an offset is local time, as the
/// tables print it.
/// </summary>
public sealed class FilterCommandTests
{
    private static readonly Dictionary<string, string> Kolkata = new() { ["TZ"] = "Asia/Kolkata" };

    [Fact]
    public async Task Models_backend_lists_that_backends_models_and_refuses_an_unknown_backend_naming_the_accepted_ones()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);

        var llamacpp = await host.CtlAsync("models", "--backend", "llamacpp");
        var vllm = await host.CtlAsync("models", "--backend", "vllm");
        var typo = await host.CtlAsync("models", "--backend", "vlm");

        Assert.True(llamacpp.ExitCode == 0, llamacpp.ToString());
        Assert.Contains("tiny ", llamacpp.StandardOutput, StringComparison.Ordinal);
        Assert.Equal((0, "no models\n"), (vllm.ExitCode, vllm.StandardOutput));
        Assert.Equal(2, typo.ExitCode);
        Assert.Equal("ullmctl: backend: 'vlm' is not one of 'llamacpp', 'ollama', 'vllm' (did you mean 'vllm'?)\n", typo.StandardError);
    }

    [Fact]
    public async Task Events_kind_streams_only_the_kinds_asked_for()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);
        var (events, output) = OutputLines.StartUllmctl(host.Daemon.Paths.AdminSocket, "events", "--kind", "key", "--kind", "config");
        using var watched = events;
        try
        {
            await WaitForWatchersAsync(host, 1);

            // Published in this order; the stream keeps it, so a scan event let through would come before the key's.
            Assert.Equal(0, (await host.CtlAsync("scan")).ExitCode);
            Assert.Equal(0, (await host.CtlAsync("reload")).ExitCode);
            Assert.Equal(0, (await host.CtlAsync("keys", "create", "--name", "watched")).ExitCode);
            Assert.Equal(0, (await host.CtlAsync("keys", "revoke", "watched")).ExitCode);

            await output.WaitForAsync("out API key 'watched'");
            var lines = output.ToString().Split('\n');
            Assert.True(lines.Length == 2, output.ToString());
            Assert.Matches(@"^out \d{4}-\d\d-\d\d \d\d:\d\d:\d\d config  : reloaded: no changes$", lines[0]);
            Assert.Matches(@"^out \d{4}-\d\d-\d\d \d\d:\d\d:\d\d key     : API key 'watched' \(\S+\) revoked$", lines[1]);
        }
        finally
        {
            events.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task Audit_since_model_and_key_select_the_requests_they_name()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);
        var created = await host.CtlAsync("keys", "create", "--name", "caller", "--json");
        Assert.True(created.ExitCode == 0, created.ToString());
        string keyId, secret;
        using (var doc = JsonDocument.Parse(created.StandardOutput))
        {
            keyId = doc.RootElement.GetProperty("key").GetProperty("id").GetString()!;
            secret = doc.RootElement.GetProperty("secret").GetString()!;
        }

        using (var client = GatewayHost.UnixClient(host.Daemon.Paths.OpenAiSocket))
        {
            await ChatAsync(client, "ghost", secret);
            await ChatAsync(client, "phantom", secret: null);
        }

        var all = await WaitForAuditRowsAsync(host, 2);
        var oldestRowTime = all.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1][..19];
        var byKey = await host.CtlAsync(Kolkata, "audit", "--key", keyId);
        var byModel = await host.CtlAsync(Kolkata, "audit", "--model", "phantom");
        var lastHour = await host.CtlAsync(Kolkata, "audit", "--since", "1h");
        var fromNow = await host.CtlAsync(Kolkata, "audit", "--since", "0s");
        var sinceRow = await host.CtlAsync(Kolkata, "audit", "--since", oldestRowTime);
        var sinceNextMinute = await host.CtlAsync(Kolkata, "audit", "--since", NextMinute(oldestRowTime));
        var unparsable = await host.CtlAsync(Kolkata, "audit", "--since", "yesterday");
        var beforeTime = await host.CtlAsync(Kolkata, "audit", "--since", "99999999999d");

        Assert.Equal(["ghost"], Models(byKey));
        Assert.Equal(["phantom"], Models(byModel));
        Assert.Equal(["phantom", "ghost"], Models(lastHour));
        Assert.Equal((0, "no audit records match\n"), (fromNow.ExitCode, fromNow.StandardOutput));
        Assert.Equal(["phantom", "ghost"], Models(sinceRow));
        Assert.Equal((0, "no audit records match\n"), (sinceNextMinute.ExitCode, sinceNextMinute.StandardOutput));
        Assert.Equal(2, unparsable.ExitCode);
        Assert.Equal("ullmctl: --since 'yesterday' is neither a time (2026-11-24T10:00Z) nor a duration ago (15m, 2h, 7d)\n", unparsable.StandardError);
        Assert.Equal(2, beforeTime.ExitCode);
        Assert.StartsWith("ullmctl: --since '99999999999d' is neither", beforeTime.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_create_sets_tokens_per_minute_and_a_local_expiry_and_list_all_shows_revoked_keys()
    {
        await using var host = await CtlHost.StartAsync(nvml: null);

        var created = await host.CtlAsync(Kolkata, "keys", "create", "--name", "limited", "--tpm", "5000", "--expires", "2099-01-31");
        var past = await host.CtlAsync(Kolkata, "keys", "create", "--name", "late", "--expires", "2000-01-01T00:00:00Z");
        var unparsable = await host.CtlAsync(Kolkata, "keys", "create", "--name", "vague", "--expires", "soon");
        var listed = await host.CtlAsync(Kolkata, "keys", "list", "--json");
        var table = await host.CtlAsync(Kolkata, "keys", "list");

        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Equal((2, "ullmctl: expires_at: must be in the future\n"), (past.ExitCode, past.StandardError));
        Assert.Equal((2, "ullmctl: --expires 'soon' is not a time (2027-01-31, 2027-01-31T12:00:00Z)\n"), (unparsable.ExitCode, unparsable.StandardError));
        using (var doc = JsonDocument.Parse(listed.StandardOutput))
        {
            var key = Assert.Single(doc.RootElement.GetProperty("keys").EnumerateArray());
            Assert.Equal("limited", key.GetProperty("name").GetString());
            Assert.Equal("5000", key.GetProperty("tokensPerMinute").GetString());
            Assert.Equal("2099-01-30T18:30:00Z", key.GetProperty("expiresAt").GetString());
        }

        Assert.Contains("5000", table.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("2099-01-31 00:00:00", table.StandardOutput, StringComparison.Ordinal);

        Assert.Equal(0, (await host.CtlAsync("keys", "revoke", "limited")).ExitCode);
        var active = await host.CtlAsync("keys", "list");
        var all = await host.CtlAsync("keys", "list", "--all", "--json");

        Assert.Equal((0, "no API keys\n"), (active.ExitCode, active.StandardOutput));
        using (var doc = JsonDocument.Parse(all.StandardOutput))
        {
            var key = Assert.Single(doc.RootElement.GetProperty("keys").EnumerateArray());
            Assert.Equal("limited", key.GetProperty("name").GetString());
            Assert.True(key.TryGetProperty("revokedAt", out _), all.StandardOutput);
        }
    }

    private static async Task ChatAsync(HttpClient client, string model, string? secret)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = JsonContent.Create(new { model, messages = new[] { new { role = "user", content = "hi" } } }),
        };
        if (secret is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        }

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(404, (int)response.StatusCode);
    }

    /// <summary>The audit table once it has <paramref name="count"/> rows (they are written after the answer).</summary>
    private static async Task<string> WaitForAuditRowsAsync(CtlHost host, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var table = await host.CtlAsync(Kolkata, "audit");
            if (Models(table).Count == count)
            {
                return table.StandardOutput;
            }

            Assert.True(DateTime.UtcNow < deadline, $"not {count} audit rows within 20 s: {table}");
            await Task.Delay(200);
        }
    }

    private static async Task WaitForWatchersAsync(CtlHost host, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var status = await host.CtlAsync("status", "--json");
            using var doc = JsonDocument.Parse(status.StandardOutput);
            if (doc.RootElement.TryGetProperty("eventWatchers", out var watchers) && watchers.GetInt32() == count)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"not {count} event watcher(s) within 30 s: {status}");
            await Task.Delay(200);
        }
    }

    /// <summary>The MODEL column of an audit table (the fourth), newest first.</summary>
    private static List<string> Models(ProcessResult audit) =>
        audit.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(line => line[19..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[2])
            .ToList();

    private static string NextMinute(string time) =>
        DateTime.ParseExact(time, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture).AddMinutes(1).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
}
