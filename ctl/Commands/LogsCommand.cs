using System.CommandLine;
using Grpc.Core;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;
using AdminClient = UnifiedLlm.Admin.V1.Admin.AdminClient;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>
/// <c>logs NAME [-f]</c>: the backend's output. With <c>-f</c>, when the instance ends (unload, eviction, crash) ullmd
/// ends the stream; ullmctl then says so on stderr, waits for the model's next instance and follows that one, until
/// Ctrl-C. The lines are the backend's own text, which can carry what clients sent (prompts, model names), so control
/// characters are escaped unless --json.
/// </summary>
internal static class LogsCommand
{
    private static readonly TimeSpan NextInstancePoll = TimeSpan.FromMilliseconds(500);

    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "A model name or alias" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep streaming new lines, across restarts of the model (Ctrl-C to stop)" };
        var lines = new Option<uint>("--lines", "-n") { Description = "Recent lines to show first (default 50)" };
        var command = new Command("logs", "The backend unit's journal for a model") { name, follow, lines };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var request = new StreamLogsRequest { Model = parse.GetValue(name)!, Follow = parse.GetValue(follow), Lines = parse.GetValue(lines) };
            try
            {
                while (true)
                {
                    var unit = await StreamAsync(client, request, json, ct);
                    if (!request.Follow)
                    {
                        return CtlErrors.Ok;
                    }

                    await Console.Error.WriteLineAsync(Printer.Safe(
                        $"ullmctl: {unit ?? request.Model} ended; waiting for the next instance of {request.Model} (Ctrl-C stops)"));
                    var next = await NextInstanceAsync(client, request.Model, unit, ct);
                    await Console.Error.WriteLineAsync(Printer.Safe($"ullmctl: following {next}"));

                    // Everything the new instance wrote so far is new to the reader.
                    request.Lines = 10_000;
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested)
            {
                return CtlErrors.Ok;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return CtlErrors.Ok;
            }
        });
    }

    /// <summary>Prints one instance's lines until ullmd ends the stream; returns the unit they came from.</summary>
    private static async Task<string?> StreamAsync(AdminClient client, StreamLogsRequest request, bool json, CancellationToken cancellationToken)
    {
        string? unit = null;
        using var call = client.StreamLogs(request, cancellationToken: cancellationToken);
        await foreach (var line in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            unit = line.Unit;
            await Console.Out.WriteLineAsync(json
                ? Google.Protobuf.JsonFormatter.Default.Format(line)
                : Printer.Safe($"{Printer.Time(line.Time)} {line.Unit}: {line.Message}"));
            await Console.Out.FlushAsync(cancellationToken);
        }

        return unit;
    }

    /// <summary>Waits until the model has an instance in another unit than <paramref name="ended"/> whose process runs; returns its unit.</summary>
    private static async Task<string> NextInstanceAsync(AdminClient client, string model, string? ended, CancellationToken cancellationToken)
    {
        while (true)
        {
            var shown = await client.GetModelAsync(new GetModelRequest { Name = model }, cancellationToken: cancellationToken);
            if (shown.Instance is { Unit.Length: > 0 } instance && instance.Unit != ended
                && instance.State is InstanceState.Loading or InstanceState.Ready)
            {
                return instance.Unit;
            }

            await Task.Delay(NextInstancePoll, cancellationToken);
        }
    }
}
