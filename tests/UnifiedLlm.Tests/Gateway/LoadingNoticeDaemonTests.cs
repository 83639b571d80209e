using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Support;
using LlamaServerBinary = UnifiedLlm.Tests.Models.LlamaServerBinary;
using RandomModelShape = UnifiedLlm.Daemon.Models.RandomModelShape;
using TinyModel = UnifiedLlm.Daemon.Models.TinyModel;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// <c>[router] loading_notice</c> against a real ullmd and a real llama-server, read by the openai npm client: a streaming
/// chat that waits on a cold load is told each stage as reasoning content before its first token; a warm model, or the
/// option off, adds nothing to the stream. A load that fails ends the begun stream with an error event; the Anthropic and
/// Responses endpoints, read as raw SSE, never get a notice.
/// </summary>
public sealed class LoadingNoticeDaemonTests
{
    [Fact(Timeout = 240_000)]
    public async Task A_cold_streaming_chat_is_told_each_load_stage_first_and_nothing_extra_when_warm_or_off()
    {
        var ct = TestContext.Current.CancellationToken;
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        using var dir = new TempDirectory("ullm-notice");
        TinyModel.Write(dir.File("tiny.gguf"), RandomModelShape.Tiny);
        var port = TestPki.FreePort();
        var paths = DaemonProcess.WriteConfig(dir, Config(llamaServer, ("tiny", dir.File("tiny.gguf"))), "supervisor = \"process\"\nstop_backends_on_exit = true", tcpListen: $"127.0.0.1:{port}");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var v1 = new Uri($"http://127.0.0.1:{port}/v1");

        var cold = await StreamAsync(v1);
        var notices = Reasoning(cold);
        Assert.Equal("ullmd: loading tiny: queued: next to load\n", notices[0]);
        Assert.Equal(["queued", "planning", "starting unit", "loading weights"], notices.Select(n => n.Split(": ")[2].TrimEnd('\n')));
        Assert.Contains("llama-server (pid ", notices[^1], StringComparison.Ordinal);
        // The notices come first, then the answer itself, which ends as any stream does.
        var events = cold.Events.Select(e => e!).ToList();
        Assert.Equal(notices.Count, events.TakeWhile(e => Delta(e)?["reasoning_content"] is not null).Count());
        Assert.NotNull(events.Last(e => e["choices"]!.AsArray().Count > 0)["choices"]![0]!["finish_reason"]);

        var warm = await StreamAsync(v1);
        Assert.Empty(Reasoning(warm));

        ct.ThrowIfCancellationRequested();
        Assert.Equal(0, (await daemon.CtlAsync("unload", "tiny")).ExitCode);
        dir.Write("config.toml", File.ReadAllText(paths.ConfigFile).Replace("loading_notice = true", "loading_notice = false", StringComparison.Ordinal));
        var reload = await daemon.CtlAsync("reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        var off = await StreamAsync(v1);
        Assert.Empty(Reasoning(off));
        // The answer itself, to its end: the tiny model may sample its end token first, so content is not required.
        Assert.NotNull(off.Events.Select(e => e!).Last(e => e["choices"]!.AsArray().Count > 0)["choices"]![0]!["finish_reason"]);
    }

    [Fact(Timeout = 240_000)]
    public async Task A_cold_load_that_fails_after_the_notice_began_ends_the_stream_with_an_error_event_and_the_audit_row_says_so()
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        using var dir = new TempDirectory("ullm-notice-fail");
        var broken = await WriteRefusedModelAsync(dir);
        var paths = DaemonProcess.WriteConfig(dir, Config(llamaServer, ("broken", broken)), "supervisor = \"process\"\nstop_backends_on_exit = true");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using var client = GatewayHost.UnixClient(paths.OpenAiSocket);

        var events = await StreamingProxyTests.StreamAsync(client, Http.Chat("broken", stream: true, extra: ",\"max_tokens\":4"));

        // The stream began with each stage up to llama-server's start, and its last event is the error: no answer, no end marker.
        var notices = events[..^1].Select(e => StreamingProxyTests.Delta(e.Data).GetProperty("reasoning_content").GetString()!).ToList();
        Assert.Equal(["queued", "planning", "starting unit", "loading weights"], notices.Select(n => n.Split(": ")[2].TrimEnd('\n')));
        using var last = JsonDocument.Parse(events[^1].Data);
        var error = last.RootElement.GetProperty("error");
        Assert.Equal("model_unavailable", error.GetProperty("code").GetString());
        Assert.StartsWith("broken: broken failed to load: llama-server for broken exited before it was ready: exited with status 1", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("unknown tokenizer: 'nonex'", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        var row = await AuditRecordAsync(daemon, "broken", TestContext.Current.CancellationToken);
        Assert.Equal((503, "error"), (row.GetProperty("httpStatus").GetInt32(), row.GetProperty("outcome").GetString()));
        Assert.Equal("broken (503)", row.GetProperty("fallbackPath")[0].GetString());
        Assert.StartsWith("broken: broken failed to load: llama-server for broken exited before it was ready", row.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = 240_000)]
    public async Task The_anthropic_and_responses_endpoints_never_get_a_notice_even_on_a_cold_load_and_a_failed_one_is_an_http_error()
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        using var dir = new TempDirectory("ullm-notice-apis");
        TinyModel.Write(dir.File("tiny.gguf"), RandomModelShape.Tiny);
        var refused = await WriteRefusedModelAsync(dir);
        // One refused model per endpoint: after a failed load a model backs off, and a request then finds no load to wait on.
        var paths = DaemonProcess.WriteConfig(
            dir, Config(llamaServer, ("tiny", dir.File("tiny.gguf")), ("refused-messages", refused), ("refused-responses", refused)), "supervisor = \"process\"\nstop_backends_on_exit = true");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using var client = GatewayHost.UnixClient(paths.OpenAiSocket);
        const string Messages = """{"model":"MODEL","max_tokens":4,"stream":true,"messages":[{"role":"user","content":"hello"}]}""";
        const string Responses = """{"model":"MODEL","max_output_tokens":4,"stream":true,"input":"hello"}""";

        var messages = await StreamingProxyTests.StreamAsync(client, Messages.Replace("MODEL", "tiny", StringComparison.Ordinal), "/v1/messages");
        Assert.Equal(("message_start", "message_stop"), (messages[0].Event, messages[^1].Event));
        AssertNoNotice(messages);

        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        Assert.Equal(0, (await daemon.CtlAsync("unload", "tiny")).ExitCode);
        var responses = await StreamingProxyTests.StreamAsync(client, Responses.Replace("MODEL", "tiny", StringComparison.Ordinal), "/v1/responses");
        // Completed, or incomplete at max_output_tokens: the tiny model may sample its end token first.
        Assert.Equal("response.created", responses[0].Event);
        Assert.True(responses[^1].Event is "response.completed" or "response.incomplete", responses[^1].Event);
        AssertNoNotice(responses);

        // No notice began their streams, so a cold load that fails is an HTTP error status, not an error event.
        foreach (var (path, body) in new[] { ("/v1/messages", Messages.Replace("MODEL", "refused-messages", StringComparison.Ordinal)), ("/v1/responses", Responses.Replace("MODEL", "refused-responses", StringComparison.Ordinal)) })
        {
            using var request = Http.Post(path, body);
            using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
            var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.True((int)response.StatusCode == 503 && response.Content.Headers.ContentType?.MediaType == "application/json", $"{path}: {(int)response.StatusCode} {text}");
            Assert.Contains("failed to load: llama-server for refused-", text, StringComparison.Ordinal);
        }
    }

    /// <summary>llama.cpp models with loading notices on, and keyless callers on TCP too.</summary>
    private static string Config(string llamaServer, params (string Name, string Source)[] models) => $"""
        [backends.llamacpp]
        executable = "{llamaServer}"

        {string.Concat(models.Select(m => $"[models.{m.Name}]\nbackend = \"llamacpp\"\nsource = \"{m.Source}\"\ncontext = 256\nparallel = 1\n\n"))}
        [router]
        loading_notice = true

        [security]
        require_key_on_tcp = false
        """;

    /// <summary>
    /// A model llama-server refuses: a tokenizer it does not know. ullmd plans its load (it does not read the tokenizer),
    /// so the load fails only once llama-server has started.
    /// </summary>
    private static async Task<string> WriteRefusedModelAsync(TempDirectory dir)
    {
        var path = dir.File("refused.gguf");
        TinyModel.Write(path, RandomModelShape.Tiny);
        var ct = TestContext.Current.CancellationToken;
        await File.WriteAllBytesAsync(path, WithUnknownTokenizer(await File.ReadAllBytesAsync(path, ct)), ct);
        return path;
    }

    /// <summary>The GGUF with its tokenizer.ggml.model value "llama" overwritten by "nonex" (same length: the file stays valid).</summary>
    private static byte[] WithUnknownTokenizer(byte[] gguf)
    {
        // The key, then the value's type (u32) and length (u64), then the string.
        var key = System.Text.Encoding.UTF8.GetBytes("tokenizer.ggml.model");
        var value = gguf.AsSpan().IndexOf(key) + key.Length + sizeof(uint) + sizeof(ulong);
        Assert.Equal("llama", System.Text.Encoding.UTF8.GetString(gguf, value, 5));
        System.Text.Encoding.UTF8.GetBytes("nonex").CopyTo(gguf, value);
        return gguf;
    }

    private static void AssertNoNotice(List<(string? Event, string Data)> events) =>
        Assert.All(events, e => Assert.DoesNotContain("ullmd: loading", e.Data, StringComparison.Ordinal));

    /// <summary>The audit row of the one request for <paramref name="model"/>, read with ullmctl audit once it is written.</summary>
    private static async Task<JsonElement> AuditRecordAsync(DaemonProcess daemon, string model, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var audit = await daemon.CtlAsync("audit", "--json", "--model", model);
            Assert.True(audit.ExitCode == 0, audit.ToString());
            using var doc = JsonDocument.Parse(audit.StandardOutput);
            if (doc.RootElement.TryGetProperty("records", out var records) && records.GetArrayLength() > 0)
            {
                return Assert.Single(records.EnumerateArray()).Clone();
            }

            Assert.True(DateTime.UtcNow < deadline, $"no audit record for {model} within 20 s: {audit}");
            await Task.Delay(200, cancellationToken);
        }
    }

    private static async Task<OpenAiNodeResult> StreamAsync(Uri v1)
    {
        var result = await OpenAiNodeClient.CallAsync(v1, "chat", new JsonObject
        {
            ["model"] = "tiny",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hello" }),
            ["max_tokens"] = 4,
            ["stream"] = true,
        });
        Assert.True(result.Ok, result.ToString());
        return result;
    }

    private static JsonNode? Delta(JsonNode chunk) => chunk["choices"]?.AsArray().FirstOrDefault()?["delta"];

    private static List<string> Reasoning(OpenAiNodeResult stream) =>
        [.. stream.Events.Select(e => Delta(e!)?["reasoning_content"]?.GetValue<string>()).OfType<string>()];
}
