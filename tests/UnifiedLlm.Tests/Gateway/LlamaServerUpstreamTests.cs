using System.Text.Json;
using UnifiedLlm.Tests.Models;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>The gateway in front of a real llama-server with the tiny model: its real responses and SSE pass through intact.</summary>
public sealed class LlamaServerUpstreamTests
{
    private const string Request = """{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":6,"ignore_eos":true""";

    [Fact(Timeout = 300_000)]
    public async Task Real_llama_server_chat_streaming_and_not_through_both_listeners()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var llama = await LlamaServerProcess.StartAsync(ct);
        if (llama is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var models = new StaticModelEndpoints();
        models.Serve("tiny", llama.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, secret) = await host.Keys.CreateAsync("llama", [], 0, 0, null, ct);

        var (status, body, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/chat/completions", Request + "}", secret));
        Assert.Equal(200, status);
        Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(6, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        var events = await StreamingProxyTests.StreamAsync(host.Unix, Request + ""","stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal("[DONE]", events[^1].Data);
        var chunks = events.Take(events.Count - 1).Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Contains(chunks, c => c.GetProperty("choices").GetArrayLength() > 0 && c.GetProperty("choices")[0].GetProperty("finish_reason").GetString() == "length");
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(6, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.False(usage.GetProperty("usage").TryGetProperty("estimated", out _));

        var (completionStatus, completion, _) = await Http.SendAsync(host.Unix, Http.Post("/v1/completions", """{"model":"tiny","prompt":"a b","max_tokens":3,"ignore_eos":true}"""));
        Assert.Equal(200, completionStatus);
        Assert.Equal(3, completion.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new UnifiedLlm.Daemon.Storage.AuditQuery(null, null, null, 10), ct);
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Equal(("ok", false), (r.Outcome, r.TokensEstimated)));
    }

    [Fact(Timeout = 300_000)]
    public async Task A_rerank_reaches_a_real_llama_server_with_reranking_on_both_paths_with_keys_audit_and_metrics()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var llama = await LlamaServerProcess.StartAsync(ct, "--reranking");
        if (llama is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        var models = new StaticModelEndpoints();
        models.Serve("tiny", llama.BaseAddress, "tiny.gguf");
        await using var host = await GatewayHost.StartAsync("", models);
        var (_, secret) = await host.Keys.CreateAsync("rerank", [], 0, 0, null, ct);
        const string Rerank = """{"model":"tiny","query":"hello","documents":["a","b hello","c"],"top_n":2}""";

        var (unauthorized, _, _) = await Http.SendAsync(host.Tcp, Http.Post("/v1/rerank", Rerank));
        Assert.Equal(401, unauthorized);
        foreach (var path in (string[])["/v1/rerank", "/rerank"])
        {
            var (status, body, _) = await Http.SendAsync(host.Tcp, Http.Post(path, Rerank, secret));
            Assert.True(status == 200, $"{path}: {status} {body}");
            var results = body.GetProperty("results").EnumerateArray().ToList();
            Assert.Equal(2, results.Count);
            Assert.All(results, r => Assert.InRange(r.GetProperty("index").GetInt32(), 0, 2));
            Assert.True(results[0].GetProperty("relevance_score").GetDouble() >= results[1].GetProperty("relevance_score").GetDouble());
        }

        var (invalid, error, _) = await Http.SendAsync(host.Unix, Http.Post("/rerank", """{"model":"tiny","query":"hello"}"""));
        Assert.Equal((400, "'documents': is required"), (invalid, Http.ErrorMessage(error)));

        using var metrics = await host.Unix.GetAsync("/metrics", ct);
        Assert.Contains("ullm_requests_total{model=\"tiny\",target=\"tiny\",status=\"200\"} 2", await metrics.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        await host.StopAsync();
        var rows = await host.Audit.QueryAsync(new UnifiedLlm.Daemon.Storage.AuditQuery(null, null, null, 10), ct);
        Assert.Equal([400, 200, 200, 401], rows.Select(r => r.HttpStatus));
        Assert.All(rows.Where(r => r.HttpStatus == 200), r => Assert.Equal(("tiny", "ok"), (r.Target, r.Outcome)));
    }
}
