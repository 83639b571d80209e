using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Support;
using LlamaServerBinary = UnifiedLlm.Tests.Models.LlamaServerBinary;
using RandomModelShape = UnifiedLlm.Daemon.Models.RandomModelShape;
using TinyModel = UnifiedLlm.Daemon.Models.TinyModel;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// <c>[router] loading_notice</c> against a real ullmd and a real llama-server, read by the openai npm client: a streaming
/// chat that waits on a cold load is told each stage as reasoning content before its first token; a warm model, or the
/// option off, adds nothing to the stream.
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
        string Config(bool notice) => $"""
            [backends.llamacpp]
            executable = "{llamaServer}"

            [models.tiny]
            backend = "llamacpp"
            source = "{dir.File("tiny.gguf")}"
            context = 256
            parallel = 1

            [router]
            loading_notice = {(notice ? "true" : "false")}

            [security]
            require_key_on_tcp = false
            """;
        var paths = DaemonProcess.WriteConfig(dir, Config(notice: true), "supervisor = \"process\"\nstop_backends_on_exit = true", tcpListen: $"127.0.0.1:{port}");
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
