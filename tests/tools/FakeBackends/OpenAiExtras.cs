using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>OpenAI completions (JSON or SSE ending in [DONE]) and embeddings, as vLLM and Ollama's /v1 serve them.</summary>
internal static class OpenAiExtras
{
    /// <summary>Width of the fakes' embeddings; each is a deterministic function of the input text.</summary>
    public const int Dimensions = 8;

    public static async Task WriteCompletionAsync(HttpContext context, string model, JsonNode? request)
    {
        var prompt = request?["prompt"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? request["prompt"]!.GetValue<string>() : string.Empty;
        var reply = $"fake completion of: {prompt}";
        var id = "cmpl-" + Guid.NewGuid().ToString("N")[..12];
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var words = reply.Split(' ');
        var usage = new JsonObject { ["prompt_tokens"] = prompt.Split(' ').Length, ["completion_tokens"] = words.Length, ["total_tokens"] = prompt.Split(' ').Length + words.Length };
        if (request?["stream"]?.GetValue<bool>() != true)
        {
            await context.Response.WriteAsJsonAsync(new JsonObject
            {
                ["id"] = id,
                ["object"] = "text_completion",
                ["created"] = created,
                ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["text"] = reply, ["logprobs"] = null, ["finish_reason"] = "stop" }),
                ["usage"] = usage,
            });
            return;
        }

        context.Response.ContentType = "text/event-stream";
        for (var i = 0; i < words.Length; i++)
        {
            var last = i == words.Length - 1;
            var chunk = new JsonObject
            {
                ["id"] = id,
                ["object"] = "text_completion",
                ["created"] = created,
                ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["text"] = i == 0 ? words[i] : " " + words[i], ["logprobs"] = null, ["finish_reason"] = last ? "stop" : null }),
            };
            await context.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n");
            await context.Response.Body.FlushAsync();
        }

        await context.Response.WriteAsync("data: [DONE]\n\n");
    }

    public static async Task WriteEmbeddingsAsync(HttpContext context, string model, JsonNode? request)
    {
        var inputs = Inputs(request?["input"]);
        var data = new JsonArray();
        for (var i = 0; i < inputs.Count; i++)
        {
            data.Add(new JsonObject { ["object"] = "embedding", ["index"] = i, ["embedding"] = new JsonArray([.. Vector(inputs[i]).Select(v => (JsonNode)v)]) });
        }

        var tokens = inputs.Sum(t => t.Split(' ').Length);
        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["model"] = model,
            ["usage"] = new JsonObject { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        });
    }

    /// <summary>A string, or an array of strings.</summary>
    public static List<string> Inputs(JsonNode? input) => input switch
    {
        JsonArray array => [.. array.Select(i => i?.GetValue<string>() ?? string.Empty)],
        JsonValue value => [value.GetValue<string>()],
        _ => [],
    };

    /// <summary>A unit vector derived from the text's hash, so equal inputs embed equally.</summary>
    public static float[] Vector(string text)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        var raw = Enumerable.Range(0, Dimensions).Select(i => (hash[i] - 127.5f) / 127.5f).ToArray();
        var norm = MathF.Sqrt(raw.Sum(v => v * v));
        return [.. raw.Select(v => v / norm)];
    }
}
