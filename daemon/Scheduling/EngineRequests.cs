using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Ollama;
using UnifiedLlm.Daemon.Models.SafeTensors;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// What the planners need to size an Ollama or a vLLM load, read from the model's files (so outside the scheduler's
/// lock). An Ollama model is a GGUF file behind its manifest, sized by the llama.cpp planner for its context × the
/// server's OLLAMA_NUM_PARALLEL slots at OLLAMA_KV_CACHE_TYPE; a vLLM model is a directory with config.json and
/// SafeTensors shards, sized by <see cref="VllmPlanner"/> for <c>context</c> × <c>parallel</c> sequences.
/// Failures are 503s naming the model and the file.
/// </summary>
internal sealed class EngineRequests(ModelProfileCache profiles)
{
    public static VllmRequest ReadVllm(ModelConfig model, BackendConfig backend, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> args = [.. backend.ExtraArgs, .. model.ExtraArgs];
        // --check refuses these; a backend's extra_args are checked here too, for the model that uses them.
        if (args.Select(a => PlannerOwnedFlags.Find(BackendKind.Vllm, a)).FirstOrDefault(o => o is not null) is { } owned)
        {
            throw new PlanInputException($"{model.Name}: extra_args set {owned.Flag}, which ullmd's plan sets (use {owned.Instead})");
        }

        var dtype = ArgumentValues.LastString(args, ["--kv-cache-dtype"]) switch
        {
            null or "auto" => VllmKvCacheDtype.Auto,
            "fp8" or "fp8_e4m3" or "fp8_e5m2" => VllmKvCacheDtype.Fp8,
            var other => throw new PlanInputException($"{model.Name}: --kv-cache-dtype {other} is not one ullmd can size (auto, fp8, fp8_e4m3, fp8_e5m2)"),
        };
        if (!Path.IsPathRooted(model.Source) || !Directory.Exists(model.Source))
        {
            throw new PlanInputException($"{model.Name}: source {model.Source} is not a model directory on this host; vLLM loads are sized from its config.json and SafeTensors headers");
        }

        ModelProfile profile;
        try
        {
            profile = SafeTensorsProfileReader.Read(model.Source, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SafeTensorsFormatException)
        {
            throw new PlanInputException($"{model.Name}: cannot read {model.Source}: {e.Message}");
        }

        var length = model.Context > 0 ? (ulong)model.Context : profile.ContextLength;
        return new VllmRequest(model.Name, profile, length, Math.Min(length, model.MinContextFloor), model.Parallel, dtype, ArgumentValues.Has(args, "--enforce-eager"))
        {
            AllowedGpus = model.Gpus.Count == 0 ? null : model.Gpus.ToHashSet(),
            PipelineStages = model.Cluster?.PipelineParallelSize ?? 1,
        };
    }

    public LoadRequest ReadOllama(ModelConfig model, BackendConfig backend, string modelsDirectory, CancellationToken cancellationToken)
    {
        ModelProfile profile;
        try
        {
            profile = profiles.Read(new OllamaModelStore(modelsDirectory).ResolveGguf(model.Source), cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or GgufFormatException or OllamaModelException)
        {
            throw new PlanInputException($"{model.Name}: cannot size Ollama model \"{model.Source}\": {e.Message}");
        }

        var slots = (ulong)OllamaDriver.Slots(backend);
        var context = model.Context > 0 ? (ulong)model.Context : profile.ContextLength;
        var cacheType = backend.Environment.GetValueOrDefault("OLLAMA_KV_CACHE_TYPE") switch
        {
            "q8_0" => GgmlType.Q8_0,
            "q4_0" => GgmlType.Q4_0,
            _ => GgmlType.F16,
        };
        var slotCount = (int)slots;
        return new LoadRequest(profile, context, Math.Min(context, model.MinContextFloor), model.GpuLayers, [], new KvCacheType(cacheType, cacheType), AllowTensorSplit: true)
        {
            // Ollama's slot count is the server's, so the planner may shorten the context but not drop slots.
            Parallel = slotCount,
            MinParallel = slotCount,
            AllowedGpus = model.Gpus.Count == 0 ? null : model.Gpus.ToHashSet(),
        };
    }

    /// <summary>
    /// What an instance holds on each of its plan's GPUs: for an Ollama model, the <c>size_vram</c> Ollama reported once it
    /// loaded, shared over the plan's GPUs as the plan shared its estimate; otherwise the plan's estimate.
    /// </summary>
    public static Dictionary<int, ulong> GpuBytes(LoadPlan plan, RunningBackend? backend)
    {
        var planned = plan.GpuIndices.Zip(plan.Estimate.Gpus, (index, share) => (index, share.TotalBytes)).ToList();
        var total = planned.Aggregate(0UL, (sum, p) => sum + p.TotalBytes);
        if (backend?.ReportedGpuBytes is not { } reported || planned.Count == 0 || total == 0)
        {
            return planned.ToDictionary(p => p.index, p => p.TotalBytes);
        }

        return planned.ToDictionary(p => p.index, p => (ulong)(reported * ((double)p.TotalBytes / total)));
    }
}
