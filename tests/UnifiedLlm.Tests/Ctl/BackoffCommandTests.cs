using System.Net;
using System.Text;
using System.Text.Json;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// A model whose backend cannot start, asked for through a real ullmd's OpenAI socket until its loads back off: the
/// client's 503 says until when, ullmctl status, models and model show say so, and ullmctl load ends it.
/// </summary>
public sealed class BackoffCommandTests
{
    [Fact]
    public async Task Repeated_failed_loads_back_off_and_status_models_and_show_say_until_when_and_why_until_an_explicit_load()
    {
        await using var host = await CtlHost.StartAsync(nvml: null, extraConfig: "[backends.llamacpp]\nexecutable = \"/nonexistent/llama-server\"\n");
        using var http = UnixHttp.To(host.Daemon.Paths.OpenAiSocket);

        // Failures 1 and 2 come at once, then the waits are 1 s, 2 s and 4 s; after the fifth, 8 s leaves time to look.
        var retryAfter = TimeSpan.Zero;
        for (var attempt = 0; attempt < 12 && retryAfter < TimeSpan.FromSeconds(8); attempt++)
        {
            await Task.Delay(retryAfter, TestContext.Current.CancellationToken);
            var (status, wait, message) = await ChatAsync(http);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Contains("tiny failed to load", message, StringComparison.Ordinal);
            retryAfter = message.Contains("tiny is backing off until", StringComparison.Ordinal) ? wait : TimeSpan.Zero;
        }

        Assert.Equal(TimeSpan.FromSeconds(8), retryAfter);
        var results = await Task.WhenAll(
            host.CtlAsync("status"), host.CtlAsync("status", "--json"), host.CtlAsync("models"), host.CtlAsync("model", "show", "tiny"));

        var hold = @"backing off until \d\d:\d\d:\d\d after 5 failures: tiny failed to load: ";
        Assert.Matches($"(?m)^held back\n.*\ntiny +{hold}", results[0].StandardOutput);
        using (var json = JsonDocument.Parse(results[1].StandardOutput))
        {
            var held = Assert.Single(json.RootElement.GetProperty("holds").EnumerateArray());
            Assert.Equal(("tiny", "backoff", 5), (held.GetProperty("model").GetString(), held.GetProperty("kind").GetString(), held.GetProperty("failures").GetInt32()));
            Assert.True(held.GetProperty("until").GetDateTimeOffset() > DateTimeOffset.UtcNow);
        }

        Assert.Matches("(?m)^tiny +llamacpp +backing off ", results[2].StandardOutput);
        Assert.Matches($"(?m)^held +{hold}", results[3].StandardOutput);

        var load = await host.CtlAsync("load", "tiny", "--wait");
        Assert.Equal(1, load.ExitCode);
        using var after = JsonDocument.Parse((await host.CtlAsync("status", "--json")).StandardOutput);
        Assert.Empty(after.RootElement.GetProperty("holds").EnumerateArray());
    }

    private static async Task<(HttpStatusCode Status, TimeSpan RetryAfter, string Message)> ChatAsync(HttpClient http)
    {
        using var body = new StringContent("""{"model":"tiny","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(new Uri("http://ullmd/v1/chat/completions"), body, TestContext.Current.CancellationToken);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        return (response.StatusCode, response.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, error.RootElement.GetProperty("error").GetProperty("message").GetString()!);
    }
}
