using System.CommandLine;
using Grpc.Core;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class LogsCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "A model name or alias" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep streaming new lines (Ctrl-C to stop)" };
        var lines = new Option<uint>("--lines", "-n") { Description = "Recent lines to show first (default 50)" };
        var command = new Command("logs", "The backend unit's journal for a model") { name, follow, lines };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var request = new StreamLogsRequest { Model = parse.GetValue(name)!, Follow = parse.GetValue(follow), Lines = parse.GetValue(lines) };
            using var call = client.StreamLogs(request, cancellationToken: ct);
            try
            {
                await foreach (var line in call.ResponseStream.ReadAllAsync(ct))
                {
                    await Console.Out.WriteLineAsync(json ? Google.Protobuf.JsonFormatter.Default.Format(line) : $"{Printer.Time(line.Time)} {line.Unit}: {line.Message}");
                    await Console.Out.FlushAsync(ct);
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested)
            {
                return CtlErrors.Ok;
            }

            return CtlErrors.Ok;
        });
    }
}
