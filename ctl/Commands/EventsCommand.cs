using System.CommandLine;
using Grpc.Core;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class EventsCommand
{
    public static Command Create()
    {
        var kinds = new Option<string[]>("--kind") { Description = "Only this kind, repeatable: load (ready), unload, evict, failure, adopt, breaker, config, key, scan, download, cache" };
        var command = new Command("events", "Follow daemon events as they happen (Ctrl-C to stop)") { kinds };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var request = new WatchEventsRequest();
            request.Kinds.AddRange(parse.GetValue(kinds) ?? []);
            using var call = client.WatchEvents(request, cancellationToken: ct);
            try
            {
                await foreach (var e in call.ResponseStream.ReadAllAsync(ct))
                {
                    if (json)
                    {
                        Console.Out.WriteLine(Google.Protobuf.JsonFormatter.Default.Format(e));
                    }
                    else
                    {
                        var subject = e.Model.Length > 0 ? $" {e.Model}" : "";
                        Console.Out.WriteLine(Printer.Safe($"{Printer.Time(e.Time)} {e.Kind,-8}{subject}: {e.Message}"));
                    }

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
