using System.CommandLine;
using AdminClient = UnifiedLlm.Admin.V1.Admin.AdminClient;

namespace UnifiedLlm.Ctl;

/// <summary>The options every command shares, and the one place a command's call is made and its failure reported.</summary>
internal static class CtlContext
{
    public static readonly Option<string?> Socket = new("--socket")
    {
        Description = "ullmd's admin socket (default: $ULLM_ADMIN_SOCKET, else " + AdminConnection.DefaultSocket + ")",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print the admin API's JSON instead of a table",
        Recursive = true,
    };

    public static Command WithAction(this Command command, Func<ParseResult, AdminClient, bool, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            var socket = AdminConnection.ResolveSocket(parse.GetValue(Socket));
            try
            {
                using var channel = AdminConnection.Open(socket);
                return await action(parse, new AdminClient(channel), parse.GetValue(Json), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return CtlErrors.Report(e, socket, parse.GetValue(Json));
            }
        });
        return command;
    }
}
