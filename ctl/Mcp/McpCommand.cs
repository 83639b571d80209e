using System.CommandLine;
using System.Reflection;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace UnifiedLlm.Ctl.Mcp;

/// <summary><c>ullmctl mcp</c>: a Model Context Protocol server on stdin/stdout exposing the admin API as tools.</summary>
internal static class McpCommand
{
    public const string DefaultOpenAiSocket = "/run/unified-llm/openai.sock";

    public static Command Create()
    {
        var openAiSocket = new Option<string?>("--openai-socket")
        {
            Description = $"ullmd's OpenAI socket for the chat tool (default: $ULLM_OPENAI_SOCKET, else {DefaultOpenAiSocket})",
        };
        var chatTimeout = new Option<double>("--chat-timeout") { Description = "Seconds the chat tool waits for an answer (default 300)", DefaultValueFactory = _ => 300 };
        var command = new Command("mcp", "Run a Model Context Protocol server on stdio with the admin API as tools (for Claude Desktop, VS Code, Zed)")
        {
            openAiSocket,
            chatTimeout,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var adminSocket = AdminConnection.ResolveSocket(parse.GetValue(CtlContext.Socket));
            var chatSocket = parse.GetValue(openAiSocket) is { Length: > 0 } given ? given
                : Environment.GetEnvironmentVariable("ULLM_OPENAI_SOCKET") is { Length: > 0 } env ? env
                : DefaultOpenAiSocket;
            using var channel = AdminConnection.Open(adminSocket);
            using var http = UnixSocketHttp.Create(chatSocket, TimeSpan.FromSeconds(parse.GetValue(chatTimeout)));
            var tools = new AdminTools(new UnifiedLlm.Admin.V1.Admin.AdminClient(channel), new GatewayChat(http, chatSocket));
            var options = new McpServerOptions
            {
                ServerInfo = new Implementation { Name = "ullmctl", Version = typeof(McpCommand).Assembly.GetName().Version?.ToString(3) ?? "0.0.0" },
                ServerInstructions = "Administer ullmd, the local LLM daemon: models, GPUs, load planning, providers, audit, and chat through its gateway. "
                    + "Tools answer with short summaries; pass full=true for the complete JSON.",
                ToolCollection = [.. ToolsOf(tools)],
            };
            await using var transport = new StdioServerTransport(options);
            await using var server = McpServer.Create(transport, options);
            try
            {
                await server.RunAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }

            return CtlErrors.Ok;
        });
        return command;
    }

    private static IEnumerable<McpServerTool> ToolsOf(AdminTools tools) =>
        typeof(AdminTools).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.GetCustomAttribute<McpServerToolAttribute>() is not null)
            .Select(m => (McpServerTool)new CheckedTool(McpServerTool.Create(m, tools)));
}
