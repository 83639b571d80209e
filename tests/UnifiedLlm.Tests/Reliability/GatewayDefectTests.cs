using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Gateway;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>Issue #21: the gateway's defects found under attack, each reproduced as its finder did it.</summary>
public sealed class GatewayDefectTests
{
    private const string Secret = "sk-live-0123456789abcdefSECRET";

    [Fact]
    public async Task A_provider_key_an_upstream_echoes_reaches_no_client_log_audit_row_or_breaker()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        // As some providers do: the key that was sent, quoted in the 401's message, and in a mid-stream error.
        upstream.Handler = async (c, body) =>
        {
            var sent = c.Request.Headers.Authorization.ToString();
            var error = new JsonObject { ["error"] = new JsonObject { ["message"] = $"Incorrect API key provided: {sent[7..]} ({sent})" } };
            if (body["stream"]?.GetValue<bool>() == true)
            {
                await FakeUpstream.StartSseAsync(c);
                await FakeUpstream.SendAsync(c, FakeUpstream.Chunk("x"));
                await FakeUpstream.SendAsync(c, error);
                return;
            }

            await FakeUpstream.WriteJsonAsync(c, error, body["model"]?.GetValue<string>() == "five-hundred" ? 500 : 401);
        };
        Environment.SetEnvironmentVariable("ULLM_TEST_ECHO_KEY", Secret);
        var models = new StaticModelEndpoints();
        await using var host = await GatewayHost.StartAsync($"""
            # Callers without a key (the unix socket's here) reach providers only with this (#21).
            [security]
            anonymous_providers = true

            [providers.echo]
            kind = "openai"
            base_url = "{upstream.BaseAddress.AbsoluteUri}v1"
            models = ["gpt-x", "five-hundred"]
            api_key_env = "ULLM_TEST_ECHO_KEY"

            [router]
            breaker_minimum_requests = 2
            """, models);

        var bodies = new List<string>();
        foreach (var model in new[] { "echo/gpt-x", "echo/five-hundred", "echo/five-hundred", "echo/five-hundred" })
        {
            using var response = await host.Unix.SendAsync(Http.Post("/v1/chat/completions", Http.Chat(model)), ct);
            bodies.Add(await response.Content.ReadAsStringAsync(ct));
        }

        using (var streamed = await host.Unix.SendAsync(Http.Post("/v1/chat/completions", Http.Chat("echo/gpt-x", stream: true)), ct))
        {
            bodies.Add(await streamed.Content.ReadAsStringAsync(ct));
        }

        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 20), ct);
        var breaker = host.Health.BreakerOf("echo");

        Assert.Contains(bodies, b => b.Contains("Incorrect API key provided: [redacted]", StringComparison.Ordinal));
        Assert.All(bodies, b => Assert.DoesNotContain("SECRET", b, StringComparison.Ordinal));
        Assert.Equal(5, rows.Count);
        Assert.All(rows, r => Assert.DoesNotContain("SECRET", r.Error ?? "", StringComparison.Ordinal));
        Assert.Equal("open", breaker?.State);
        Assert.DoesNotContain("SECRET", breaker!.LastError ?? "", StringComparison.Ordinal);
        Assert.Contains("[redacted]", breaker.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_utf8_is_refused_before_any_upstream_and_a_local_backends_500s_do_not_switch_it_off()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", upstream.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("[router]\nbreaker_minimum_requests = 2\n", models);

        var invalid = Encoding.UTF8.GetBytes(Http.Chat("tiny")).ToList();
        invalid.InsertRange(invalid.IndexOf((byte)'h'), [0xC3, 0x28]);
        using var bad = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new ByteArrayContent([.. invalid]) };
        var (badStatus, badBody, _) = await Http.SendAsync(host.Unix, bad);
        var (surrogateStatus, surrogateBody, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", """{"model":"\ud800","messages":[{"role":"user","content":"x"}]}"""));

        Assert.Equal(400, badStatus);
        Assert.Contains("not valid UTF-8 (at byte", Http.ErrorMessage(badBody), StringComparison.Ordinal);
        Assert.Equal((400, "model"), (surrogateStatus, surrogateBody.GetProperty("error").GetProperty("param").GetString()));
        Assert.Empty(upstream.Requests);

        // Whatever else a client sends that the backend answers 500 for, the backend is alive: its breaker stays closed.
        upstream.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, new JsonObject { ["error"] = new JsonObject { ["message"] = "[json.exception.type_error.302]" } }, 500);
        for (var i = 0; i < 6; i++)
        {
            var (status, _, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
            Assert.Equal(502, status);
        }

        upstream.Handler = (c, _) => FakeUpstream.WriteJsonAsync(c, FakeUpstream.Completion("still here"));
        var (okStatus, _, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        Assert.Equal(200, okStatus);
        Assert.Equal("closed", host.Health.BreakerOf("local:tiny")!.State);
    }

    [Fact]
    public async Task Requests_that_end_in_an_unexpected_error_get_an_error_object_and_an_audit_row_that_says_so()
    {
        var ct = TestContext.Current.CancellationToken;
        var models = new StaticModelEndpoints();
        models.Throw("tiny", new InvalidOperationException("a defect"));
        await using var host = await GatewayHost.StartAsync("", models);

        var (status, body, response) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny")));
        var rawStatus = await SendBrokenChunkAsync(host.SocketPath, ct);

        var requestId = response.Headers.GetValues("x-request-id").Single();
        Assert.Equal(500, status);
        Assert.Contains(requestId, Http.ErrorMessage(body), StringComparison.Ordinal);
        Assert.DoesNotContain("a defect", Http.ErrorMessage(body), StringComparison.Ordinal);
        Assert.Equal(400, rawStatus);
        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new AuditQuery(null, null, null, 10), ct);
        var failed = rows.Single(r => r.RequestId == requestId);
        Assert.Equal((500, "internal_error", "tiny"), (failed.HttpStatus, failed.Outcome, failed.ModelRequested));
        Assert.StartsWith("openai-unix uid 0 pid ", failed.Client, StringComparison.Ordinal);
        Assert.Contains(rows, r => r.HttpStatus == 400 && r.Outcome == "error" && r.Error!.Contains("could not be read", StringComparison.Ordinal));
        Assert.DoesNotContain(rows, r => r.HttpStatus == 200);
    }

    [Fact]
    public async Task Clients_cannot_add_metrics_series_with_made_up_provider_models()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await FakeUpstream.StartAsync();
        var models = new StaticModelEndpoints();
        await using var host = await GatewayHost.StartAsync($"""
            # Callers without a key (the unix socket's here) reach providers only with this (#21).
            [security]
            anonymous_providers = true

            [providers.cloud]
            kind = "openai"
            base_url = "{upstream.BaseAddress.AbsoluteUri}v1"
            models = ["gpt-x"]
            """, models);
        var names = Enumerable.Range(0, 50).Select(i => $"cloud/made-up-{i}-{Guid.NewGuid():N}").ToList();

        foreach (var name in names)
        {
            var (status, _, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat(name)));
            Assert.Equal(200, status);
        }

        var (listed, _, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("cloud/gpt-x")));
        var metrics = await host.Unix.GetStringAsync("/metrics", ct);

        Assert.Equal(200, listed);
        Assert.All(names, n => Assert.DoesNotContain(n, metrics, StringComparison.Ordinal));
        Assert.Contains("model=\"cloud/*\"", metrics, StringComparison.Ordinal);
        Assert.Contains("target=\"cloud/gpt-x\"", metrics, StringComparison.Ordinal);
        Assert.Equal(50, upstream.Requests.Count(r => r.Body["model"]!.GetValue<string>().StartsWith("made-up-", StringComparison.Ordinal)));
        // Every series line names one of: the listed model, the unlisted bucket, or none of them.
        var modelLabels = metrics.Split('\n').Where(l => l.StartsWith("ullm_requests_total{", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, modelLabels.Count);
    }

    [Fact]
    public async Task A_key_limited_to_some_models_lists_only_those_and_errors_name_no_backend_port()
    {
        var ct = TestContext.Current.CancellationToken;
        using var refusing = new RefusingPort();
        var models = new StaticModelEndpoints();
        models.Serve("tiny", refusing.Uri, "tiny.gguf");
        models.Serve("other", new Uri("http://127.0.0.1:9/"), "other.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, secret) = await host.Keys.CreateAsync("tiny-only", ["tiny"], 0, 0, null, ct);

        using var list = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        list.Headers.Authorization = new("Bearer", secret);
        using var listed = await host.Unix.SendAsync(list, ct);
        var ids = JsonDocument.Parse(await listed.Content.ReadAsStringAsync(ct)).RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        var (status, body, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/chat/completions", Http.Chat("tiny"), secret));

        Assert.Equal(["tiny"], ids);
        Assert.Equal(502, status);
        Assert.Contains("tiny: cannot connect", Http.ErrorMessage(body), StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", Http.ErrorMessage(body), StringComparison.Ordinal);
    }

    /// <summary>A chunked body whose chunk size is not hexadecimal, on a raw connection: Kestrel's 400, seen through the app.</summary>
    private static async Task<int> SendBrokenChunkAsync(string socketPath, CancellationToken ct)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), ct);
        var request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\n{\"mod\r\nzz\r\nbroken\r\n0\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), ct);
        var buffer = new byte[4096];
        var read = await socket.ReceiveAsync(buffer, ct);
        var head = Encoding.ASCII.GetString(buffer, 0, read);
        return int.Parse(head.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
