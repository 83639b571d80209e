using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// An ullmctl newer than the ullmd it talks to: a call the daemon does not have is answered UNIMPLEMENTED by gRPC
/// itself (<see cref="ScriptedAdminServer"/> implements only load, switch, unload and logs), which ullmctl reports
/// with exit code 6 and its MCP tools as a tool error.
/// </summary>
public sealed class OlderDaemonTests
{
    private const string Message = "ullmd does not implement this call; it is older than this ullmctl, so use the ullmctl installed with it";

    [Fact]
    public async Task A_call_the_daemon_does_not_implement_exits_6_saying_so()
    {
        await using var server = await ScriptedAdminServer.StartAsync(new ScriptedAdminServer.Script());

        var text = await server.CtlAsync("status");
        var json = await server.CtlAsync("--json", "cache", "stats");

        Assert.Equal((6, "", $"ullmctl: {Message}\n"), (text.ExitCode, text.StandardOutput, text.StandardError));
        Assert.Equal(6, json.ExitCode);
        using var doc = JsonDocument.Parse(json.StandardOutput);
        var error = doc.RootElement.GetProperty("error");
        Assert.Equal(("UNIMPLEMENTED", 6, Message), (error.GetProperty("code").GetString(), error.GetProperty("exit").GetInt32(), error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task An_mcp_tool_whose_call_the_daemon_does_not_implement_is_a_tool_error_saying_so()
    {
        await using var server = await ScriptedAdminServer.StartAsync(new ScriptedAdminServer.Script());
        var ct = TestContext.Current.CancellationToken;
        await using var client = await McpClient.CreateAsync(
            new StdioClientTransport(new StdioClientTransportOptions
            {
                Name = "ullmctl",
                Command = "dotnet",
                Arguments = [RepoPaths.Ullmctl, "--socket", server.Socket, "mcp"],
            }),
            cancellationToken: ct);

        var status = await client.CallToolAsync("get_system_status", cancellationToken: ct);
        var unload = await client.CallToolAsync("unload_model", new Dictionary<string, object?> { ["name"] = "tiny" }, cancellationToken: ct);

        Assert.True(status.IsError);
        Assert.EndsWith(": " + Message, Text(status), StringComparison.Ordinal);
        Assert.True(unload.IsError is not true, Text(unload));
        Assert.Equal("unloaded tiny (ullm-tiny-1.service) in 1.5s, 2 request(s) drained", Text(unload));
    }

    private static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));
}
