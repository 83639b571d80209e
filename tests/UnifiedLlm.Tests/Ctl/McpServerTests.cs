using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>`ullmctl mcp` driven over stdio by the ModelContextProtocol package's own client, against a real ullmd with the fake two-GPU NVML.</summary>
[Collection(FakeNvmlTests.Name)]
public sealed class McpServerTests(FakeNvmlBuild nvml)
{
    private static readonly string[] ExpectedTools =
    [
        "chat", "complete", "get_audit_logs", "get_model_info", "get_provider_health", "get_system_status", "get_vram_status", "list_models", "load_model",
        "plan_load", "run_security_audit", "scan_models", "switch_model", "unload_model", "validate_config",
    ];

    [Fact]
    public async Task A_real_mcp_client_lists_the_tools_and_calls_them_against_ullmd()
    {
        await using var host = await CtlHost.StartAsync(nvml);
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ConnectAsync(host.Daemon.Paths.AdminSocket, host.Daemon.Paths.OpenAiSocket, ct);

        var tools = await client.ListToolsAsync(cancellationToken: ct);
        Assert.Equal(ExpectedTools, tools.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.Equal("ullmctl", client.ServerInfo?.Name);

        var vram = Text(await client.CallToolAsync("get_vram_status", cancellationToken: ct));
        Assert.Contains("0    NVIDIA H100 80GB HBM3  10.5 GiB  69.5 GiB", vram);
        Assert.Contains("1    NVIDIA A10", vram);

        var plan = Text(await client.CallToolAsync("plan_load", new Dictionary<string, object?> { ["name"] = "tiny", ["gpu"] = 1 }, cancellationToken: ct));
        Assert.StartsWith("tiny: GPU1, 3/3 layers on GPU (incl. output), 4 slot(s) × n_ctx 256", plan);
        var overridden = Text(await client.CallToolAsync(
            "plan_load", new Dictionary<string, object?> { ["name"] = "tiny", ["gpu"] = 1, ["parallel"] = 2, ["cacheType"] = "f32" }, cancellationToken: ct));
        Assert.StartsWith("tiny: GPU1, 3/3 layers on GPU (incl. output), 2 slot(s) × n_ctx 256", overridden);
        Assert.Contains("--parallel 2 --cache-type-k f32 --cache-type-v f32", overridden);

        var models = Text(await client.CallToolAsync("list_models", cancellationToken: ct));
        Assert.Equal("tiny (llamacpp; llama F32, 2 layers, ctx 256): unloaded", models);

        var info = Text(await client.CallToolAsync("get_model_info", new Dictionary<string, object?> { ["name"] = "small", ["full"] = true }, cancellationToken: ct));
        using (var doc = JsonDocument.Parse(info))
        {
            Assert.Equal("tiny", doc.RootElement.GetProperty("name").GetString());
            Assert.Equal(2, doc.RootElement.GetProperty("profile").GetProperty("layerCount").GetInt32());
        }

        var status = Text(await client.CallToolAsync("get_system_status", cancellationToken: ct));
        Assert.Contains("GPUs: 0 NVIDIA H100 80GB HBM3 69.5 GiB free of 80.0 GiB; 1 NVIDIA A10 22.5 GiB free of 22.5 GiB", status);

        var scan = Text(await client.CallToolAsync("scan_models", cancellationToken: ct));
        Assert.StartsWith("2 model file(s): 0 added, 0 updated, 2 unchanged, 0 removed, 1 error(s)", scan);

        Assert.Equal("no providers configured", Text(await client.CallToolAsync("get_provider_health", cancellationToken: ct)));
        Assert.Equal("no audit records match", Text(await client.CallToolAsync("get_audit_logs", cancellationToken: ct)));

        var load = await client.CallToolAsync("load_model", new Dictionary<string, object?> { ["name"] = "tiny" }, cancellationToken: ct);
        Assert.True(load.IsError);
        Assert.Contains("tiny failed to load", Text(load));

        var unknown = await client.CallToolAsync("get_model_info", new Dictionary<string, object?> { ["name"] = "tinyy" }, cancellationToken: ct);
        Assert.True(unknown.IsError);
        Assert.Contains("NotFound: name: no model named 'tinyy' (did you mean 'tiny'?)", Text(unknown));

        var chat = await client.CallToolAsync("chat", new Dictionary<string, object?> { ["model"] = "tiny", ["prompt"] = "hello" }, cancellationToken: ct);
        Assert.True(chat.IsError);
        Assert.Contains("ullmd answered 503", Text(chat));

        var complete = await client.CallToolAsync("complete", new Dictionary<string, object?> { ["model"] = "tiny", ["prompt"] = "hello" }, cancellationToken: ct);
        Assert.True(complete.IsError);
        Assert.Contains("ullmd answered 503", Text(complete));

        // The tiny model lies under /tmp: the audit says what the systemd supervisor's PrivateTmp would do to it.
        var audit = Text(await client.CallToolAsync("run_security_audit", cancellationToken: ct));
        Assert.Contains($"info     sandbox.paths models.tiny: under the systemd supervisor: the model {host.TinyModelPath} is under /tmp", audit);
        Assert.Contains($"ok       listener.admin-unix {host.Daemon.Paths.AdminSocket}: bound, and accepts connections", audit);

        var invalid = Text(await client.CallToolAsync("validate_config", new Dictionary<string, object?> { ["toml"] = "[server]\ndata_dri = \"/x\"\n" }, cancellationToken: ct));
        Assert.StartsWith("invalid: 1 error(s)\nconfig.toml:2:1: server.data_dri:", invalid);
        var valid = Text(await client.CallToolAsync("validate_config", new Dictionary<string, object?> { ["path"] = host.Daemon.Paths.ConfigFile }, cancellationToken: ct));
        Assert.Equal("valid: 1 model(s), 0 provider(s), 0 route(s)", valid);
    }

    [Fact]
    public async Task Load_chat_switch_and_unload_tools_drive_a_real_llama_server_through_ullmd()
    {
        var binary = Models.LlamaServerBinary.Find();
        if (binary is null)
        {
            Assert.Skip(Models.LlamaServerBinary.HowToGet);
        }

        using var twinDir = new TempDirectory("ullm-mcp");
        TinyModel.Write(twinDir.File("twin.gguf"));
        await using var host = await CtlHost.StartAsync(nvml: null, extraConfig: $"""
            [models.twin]
            backend = "llamacpp"
            source = "{twinDir.File("twin.gguf")}"
            context = 256

            [backends.llamacpp]
            executable = "{binary}"
            """);
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ConnectAsync(host.Daemon.Paths.AdminSocket, host.Daemon.Paths.OpenAiSocket, ct);

        var load = await client.CallToolAsync("load_model", new Dictionary<string, object?> { ["name"] = "small", ["parallel"] = 2 }, cancellationToken: ct);
        Assert.True(load.IsError is not true, Text(load));
        Assert.Matches(@"(?m)^\S+ small ready: CPU, -ngl 0, --parallel 2 × n_ctx 256", Text(load));
        Assert.Contains("serving     2 slot(s) × ctx 256", (await host.CtlAsync("model", "show", "tiny")).StandardOutput);

        var chat = await client.CallToolAsync("chat", new Dictionary<string, object?> { ["model"] = "tiny", ["prompt"] = "hello", ["maxTokens"] = 4 }, cancellationToken: ct);
        Assert.True(chat.IsError is not true, Text(chat));
        Assert.Matches(@"\n\n\(model \S+, \d+ tokens\)$", Text(chat));

        var switched = await client.CallToolAsync("switch_model", new Dictionary<string, object?> { ["from"] = "tiny", ["to"] = "twin" }, cancellationToken: ct);
        Assert.True(switched.IsError is not true, Text(switched));
        Assert.Matches(@"(?m)^\S+ twin ready: ", Text(switched));

        var unload = await client.CallToolAsync("unload_model", new Dictionary<string, object?> { ["name"] = "twin" }, cancellationToken: ct);
        Assert.True(unload.IsError is not true, Text(unload));
        Assert.Matches(@"^unloaded twin \(\S+\) in \S+, 0 request\(s\) drained$", Text(unload));
        var again = await client.CallToolAsync("unload_model", new Dictionary<string, object?> { ["name"] = "twin", ["force"] = true }, cancellationToken: ct);
        Assert.True(again.IsError);
        Assert.Contains("twin", Text(again));
        Assert.Equal("no models loaded", Text(await client.CallToolAsync("list_models", new Dictionary<string, object?> { ["loadedOnly"] = true }, cancellationToken: ct)));
    }

    [Fact]
    public async Task Without_ullmd_the_tools_say_the_daemon_is_unreachable()
    {
        using var dir = new TempDirectory("ullm-mcp");
        var ct = TestContext.Current.CancellationToken;
        await using var client = await McpClient.CreateAsync(
            new StdioClientTransport(new StdioClientTransportOptions
            {
                Name = "ullmctl",
                Command = "dotnet",
                Arguments = [RepoPaths.Ullmctl, "--socket", dir.File("absent.sock"), "mcp", "--openai-socket", dir.File("absent-openai.sock")],
            }),
            cancellationToken: ct);

        var status = await client.CallToolAsync("get_system_status", cancellationToken: ct);
        var chat = await client.CallToolAsync("chat", new Dictionary<string, object?> { ["model"] = "tiny", ["prompt"] = "hello" }, cancellationToken: ct);

        Assert.True(status.IsError);
        Assert.Contains("ullmd is not reachable on its admin socket", Text(status));
        Assert.True(chat.IsError);
        Assert.Contains($"cannot reach ullmd's OpenAI API on {dir.File("absent-openai.sock")}", Text(chat));
    }

    [Fact]
    public async Task A_tool_call_with_bad_arguments_says_which_argument_and_why()
    {
        using var dir = new TempDirectory("ullm-mcp");
        var ct = TestContext.Current.CancellationToken;
        await using var client = await McpClient.CreateAsync(
            new StdioClientTransport(new StdioClientTransportOptions
            {
                Name = "ullmctl",
                Command = "dotnet",
                Arguments = [RepoPaths.Ullmctl, "--socket", dir.File("absent.sock"), "mcp", "--openai-socket", dir.File("absent-openai.sock")],
            }),
            cancellationToken: ct);

        var missing = await client.CallToolAsync("get_model_info", cancellationToken: ct);
        var wrongType = await client.CallToolAsync("get_model_info", new Dictionary<string, object?> { ["name"] = 5 }, cancellationToken: ct);
        var unknown = await client.CallToolAsync("plan_load", new Dictionary<string, object?> { ["name"] = "tiny", ["gpus"] = 1 }, cancellationToken: ct);
        var notInteger = await client.CallToolAsync("plan_load", new Dictionary<string, object?> { ["name"] = "tiny", ["gpu"] = "first" }, cancellationToken: ct);

        Assert.Equal([true, true, true, true], new[] { missing.IsError, wrongType.IsError, unknown.IsError, notInteger.IsError });
        Assert.Equal("invalid arguments for 'get_model_info': 'name' is required", Text(missing));
        Assert.Equal("invalid arguments for 'get_model_info': 'name' must be string, not the number 5", Text(wrongType));
        Assert.StartsWith("invalid arguments for 'plan_load': 'gpus' is not an argument of this tool (its arguments: name, ", Text(unknown));
        Assert.Contains("'gpu' must be integer", Text(notInteger));
        Assert.Contains("not a string", Text(notInteger));
    }

    [Fact]
    public async Task The_chat_tool_posts_an_openai_chat_completion_to_the_gateway_socket_and_summarises_the_answer()
    {
        await using var gateway = await FakeChatGateway.StartAsync();
        using var dir = new TempDirectory("ullm-mcp");
        var ct = TestContext.Current.CancellationToken;
        await using var client = await McpClient.CreateAsync(
            new StdioClientTransport(new StdioClientTransportOptions
            {
                Name = "ullmctl",
                Command = "dotnet",
                Arguments = [RepoPaths.Ullmctl, "--socket", dir.File("absent.sock"), "mcp"],
                EnvironmentVariables = new Dictionary<string, string?> { ["ULLM_OPENAI_SOCKET"] = gateway.Socket },
            }),
            cancellationToken: ct);

        var answer = await client.CallToolAsync(
            "chat", new Dictionary<string, object?> { ["model"] = "tiny", ["prompt"] = "hello", ["system"] = "be brief", ["maxTokens"] = 16 }, cancellationToken: ct);
        var full = await client.CallToolAsync("chat", new Dictionary<string, object?> { ["model"] = "tiny", ["prompt"] = "again", ["full"] = true }, cancellationToken: ct);
        var unknown = await client.CallToolAsync("chat", new Dictionary<string, object?> { ["model"] = "nope", ["prompt"] = "hello" }, cancellationToken: ct);

        Assert.Equal("Hello from tiny\n\n(model tiny, 12 tokens)", Text(answer));
        var request = gateway.Requests[0].RootElement;
        Assert.Equal("tiny", request.GetProperty("model").GetString());
        Assert.Equal(16, request.GetProperty("max_tokens").GetInt32());
        Assert.Equal(
            ["system: be brief", "user: hello"],
            request.GetProperty("messages").EnumerateArray().Select(m => $"{m.GetProperty("role").GetString()}: {m.GetProperty("content").GetString()}"));
        Assert.False(gateway.Requests[1].RootElement.TryGetProperty("max_tokens", out _));
        Assert.Equal(FakeChatGateway.Answer, Text(full));
        Assert.True(unknown.IsError);
        Assert.Contains("ullmd answered 404 Not Found: {\"error\":{\"message\":\"model 'nope' not found\"", Text(unknown));
    }

    private static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    /// <summary>A real MCP client driving <c>ullmctl mcp</c> over stdio against the daemon's sockets.</summary>
    private static Task<McpClient> ConnectAsync(string adminSocket, string openAiSocket, CancellationToken cancellationToken) =>
        McpClient.CreateAsync(
            new StdioClientTransport(new StdioClientTransportOptions
            {
                Name = "ullmctl",
                Command = "dotnet",
                Arguments = [RepoPaths.Ullmctl, "--socket", adminSocket, "mcp", "--openai-socket", openAiSocket],
            }),
            cancellationToken: cancellationToken);
}
