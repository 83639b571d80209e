using System.Text.Json.Nodes;
using UnifiedLlm.Tests.Gateway;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Backends;

/// <summary>
/// <c>ullmctl pull</c> of an Ollama model in a real ullmd (plain-process supervisor, no GPU) proxies Ollama's own
/// <c>/api/pull</c> NDJSON progress, against tests/tools/FakeBackends (Ollama cannot run on these machines), whose
/// registry (FAKE_OLLAMA_REGISTRY, a directory laid out like OLLAMA_MODELS) holds one tag.
/// </summary>
public sealed class OllamaPullTests : IDisposable
{
    private readonly TempDirectory dir = new("ullm-ollama-pull");

    public void Dispose() => dir.Dispose();

    [Fact(Timeout = 120_000)]
    public async Task Pull_relays_ollamas_progress_then_the_pulled_tag_serves_and_an_unknown_tag_is_ollamas_error()
    {
        var ct = TestContext.Current.CancellationToken;
        var record = dir.File("record.jsonl");
        var fake = RepoPaths.FakeBackends;
        Assert.True(File.Exists(fake), $"{fake} is missing: the test project's reference builds it");
        dir.Write("ollama", $"#!/bin/sh\nexec dotnet '{fake}' \"$@\"\n");
        var registry = dir.File("registry");
        var gguf = dir.File("qwen.gguf");
        new Models.SyntheticModel { Name = "qwen", Layers = 4, Embedding = 256, Heads = 4, KvHeads = 2, FeedForward = 512, Vocab = 1000, Context = 8192 }.Write(gguf);
        Models.OllamaLayout.Add(registry, gguf, "qwen", "0.5b");
        var ggufBytes = new FileInfo(gguf).Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        File.SetUnixFileMode(dir.File("ollama"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var paths = DaemonProcess.WriteConfig(dir, $$"""
            [backends.ollama]
            enabled = true
            executable = "{{dir.File("ollama")}}"
            env = { FAKE_BACKEND = "ollama", FAKE_RECORD_FILE = "{{record}}", FAKE_OLLAMA_REGISTRY = "{{registry}}" }

            [models.ol]
            backend = "ollama"
            source = "qwen:0.5b"
            context = 2048

            [models.nope]
            backend = "ollama"
            source = "nope:1b"
            """, serverExtra: "supervisor = \"process\"");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using var http = GatewayHost.UnixClient(paths.OpenAiSocket);

        // Not pulled yet: its load cannot be sized, for want of the manifest a pull writes.
        var (before, beforeBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
        Assert.True(before == 503, $"{before} {beforeBody}");
        Assert.Contains("no such manifest: \"qwen:0.5b\"", Http.ErrorMessage(beforeBody), StringComparison.Ordinal);

        var json = await daemon.CtlAsync("pull", "ol", "--json");

        Assert.True(json.ExitCode == 0, json + daemon.Output);
        var lines = json.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal("pulling manifest", lines[0]["status"]!.GetValue<string>());
        var layer = lines.First(l => l["totalBytes"] is not null && l["file"]!.GetValue<string>().StartsWith("sha256:", StringComparison.Ordinal));
        Assert.Matches("^pulling [0-9a-f]{12}$", layer["status"]!.GetValue<string>());
        Assert.Contains(lines, l => l["totalBytes"]?.GetValue<string>() == ggufBytes && l["completedBytes"]?.GetValue<string>() == ggufBytes);
        Assert.Equal(["verifying sha256 digest", "writing manifest", "success"], lines[^3..].Select(l => l["status"]!.GetValue<string>()));
        Assert.True(lines[^1]["done"]!.GetValue<bool>());
        Assert.Contains(File.ReadAllLines(record), l => l.Contains("\"/api/pull\"", StringComparison.Ordinal) && l.Contains("qwen:0.5b", StringComparison.Ordinal));

        // The failed load above backs loads on demand off; an explicit load retries at once.
        var load = await daemon.CtlAsync("load", "ol", "--wait");
        Assert.True(load.ExitCode == 0, load + daemon.Output);
        var (after, afterBody, _) = await Http.SendAsync(http, Http.Post("/v1/chat/completions", Http.Chat("ol")));
        Assert.True(after == 200, $"{after} {afterBody}\n{daemon.Output}");

        var text = await daemon.CtlAsync("pull", "ol");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.StartsWith("ol: pulling manifest\n", text.StandardOutput, StringComparison.Ordinal);
        Assert.EndsWith("ol: success\n", text.StandardOutput, StringComparison.Ordinal);

        var missing = await daemon.CtlAsync("pull", "nope");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("nope: Ollama could not pull \"nope:1b\": pull model manifest: file does not exist", missing.StandardError, StringComparison.Ordinal);
        Assert.False(ct.IsCancellationRequested);
    }
}
