using System.CommandLine;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

/// <summary><c>load</c>, <c>unload</c> and <c>switch</c>: a model's life cycle through the daemon's scheduler.</summary>
internal static class LifecycleCommands
{
    public static Command CreateLoad()
    {
        var name = new Argument<string>("NAME") { Description = "A model name or alias" };
        var ctx = LoadOptions.Context();
        var layers = LoadOptions.Layers();
        var gpu = LoadOptions.Gpu();
        var parallel = LoadOptions.Parallel();
        var cacheType = LoadOptions.CacheType();
        var wait = new Option<bool>("--wait") { Description = "Follow the load until the model is ready (default: until its unit has started)" };
        var command = new Command("load", "Load a model, showing its progress (Ctrl-C cancels)") { name, ctx, layers, gpu, parallel, cacheType, wait };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var request = new LoadModelRequest
            {
                Name = parse.GetValue(name)!,
                Context = parse.GetValue(ctx),
                GpuLayers = parse.GetValue(layers) ?? "",
                Parallel = parse.GetValue(parallel),
                CacheType = parse.GetValue(cacheType) ?? "",
            };
            if (parse.GetValue(gpu) is { } index)
            {
                request.Gpu = index;
            }

            using var call = client.LoadModel(request, cancellationToken: ct);
            return await LoadProgressDisplay.FollowAsync(call.ResponseStream, json, untilReady: parse.GetValue(wait), token => UnloadAsync(client, request.Name, token), ct);
        });
    }

    public static Command CreateSwitch()
    {
        var from = new Argument<string>("FROM") { Description = "The loaded model to unload" };
        var to = new Argument<string>("TO") { Description = "The model to load in its place" };
        var command = new Command("switch", "Unload one model and load another in its place, showing progress (Ctrl-C cancels)") { from, to };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var request = new SwitchModelRequest { From = parse.GetValue(from)!, To = parse.GetValue(to)! };
            using var call = client.SwitchModel(request, cancellationToken: ct);
            return await LoadProgressDisplay.FollowAsync(call.ResponseStream, json, untilReady: true, token => UnloadAsync(client, request.To, token), ct);
        });
    }

    public static Command CreateUnload()
    {
        var name = new Argument<string>("NAME") { Description = "A model name or alias" };
        var force = new Option<bool>("--force") { Description = "End in-flight requests at once (streams get an error event) instead of draining them" };
        var command = new Command("unload", "Stop a model's backend after its in-flight requests finish") { name, force };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var forced = parse.GetValue(force);
            var response = await client.UnloadModelAsync(new UnloadModelRequest { Name = parse.GetValue(name)!, Force = forced }, cancellationToken: ct);
            Printer.Write(json, response, () =>
                $"unloaded {response.Model} ({response.Unit}) in {Printer.Duration(response.ElapsedMs)}, {response.DrainedRequests} request(s) {(forced ? "ended" : "drained")}\n");
            return CtlErrors.Ok;
        });
    }

    /// <summary>Ctrl-C during a load: unload what was being loaded, even if busy, and say what happened.</summary>
    private static async Task<string> UnloadAsync(UnifiedLlm.Admin.V1.Admin.AdminClient client, string model, CancellationToken cancellationToken)
    {
        try
        {
            var response = await client.UnloadModelAsync(new UnloadModelRequest { Name = model, Force = true }, cancellationToken: cancellationToken);
            return $"unloaded {response.Model} ({response.Unit})";
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.NotFound)
        {
            return $"{model} was not loaded yet ({e.Status.Detail})";
        }
    }
}
