using System.Text.Json.Nodes;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>
/// vLLM's rerank API (<c>/rerank</c> and <c>/v1/rerank</c>, Jina and Cohere's shape), served by a model
/// started with <c>--task score</c>: <c>{model, query, documents: [string | {text}], top_n?, return_documents?}</c> →
/// <c>{id, model, usage: {total_tokens}, results: [{index, document: {text}, relevance_score}]}</c>, best first, the
/// first top_n when it is positive. The score stands in for a cross-encoder's: the share of the query's words that the
/// document contains, so a test can tell which document should win.
/// </summary>
internal static class VllmRerank
{
    public static async Task WriteAsync(HttpContext context, string model, JsonNode? request)
    {
        if (request?["query"] is not JsonValue queryValue || !queryValue.TryGetValue<string>(out var query))
        {
            await ErrorAsync(context, "query: Field required");
            return;
        }

        if (request["documents"] is not JsonArray { Count: > 0 } documents)
        {
            await ErrorAsync(context, "documents: Input should be a non-empty list");
            return;
        }

        var texts = new List<string>();
        foreach (var document in documents)
        {
            var text = document switch
            {
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                JsonObject o when o["text"] is JsonValue t && t.TryGetValue<string>(out var s) => s,
                _ => null,
            };
            if (text is null)
            {
                await ErrorAsync(context, "documents: each document must be a string or an object with a text field");
                return;
            }

            texts.Add(text);
        }

        var topN = request["top_n"] is JsonValue n && n.TryGetValue<int>(out var count) && count > 0 ? count : texts.Count;
        var returnDocuments = request["return_documents"] is not JsonValue r || !r.TryGetValue<bool>(out var wanted) || wanted;
        var queryWords = Words(query);
        var results = new JsonArray();
        foreach (var (text, index) in texts.Select((t, i) => (t, i)).OrderByDescending(d => Score(queryWords, d.t)).ThenBy(d => d.i).Take(topN))
        {
            var result = new JsonObject { ["index"] = index };
            if (returnDocuments)
            {
                result["document"] = new JsonObject { ["text"] = text };
            }

            result["relevance_score"] = Score(queryWords, text);
            results.Add(result);
        }

        await context.Response.WriteAsJsonAsync(new JsonObject
        {
            ["id"] = "rerank-" + Guid.NewGuid().ToString("N"),
            ["model"] = model,
            ["usage"] = new JsonObject { ["total_tokens"] = texts.Sum(t => queryWords.Count + Words(t).Count) },
            ["results"] = results,
        });
    }

    private static HashSet<string> Words(string text) =>
        [.. text.ToLowerInvariant().Split([' ', '\t', '\n', '.', ',', '?', '!', ';', ':'], StringSplitOptions.RemoveEmptyEntries)];

    private static double Score(HashSet<string> query, string document) =>
        query.Count == 0 ? 0 : Math.Round((double)query.Count(Words(document).Contains) / query.Count, 6);

    private static async Task ErrorAsync(HttpContext context, string message)
    {
        context.Response.StatusCode = 400;
        await context.Response.WriteAsJsonAsync(new JsonObject { ["object"] = "error", ["message"] = message, ["type"] = "BadRequestError", ["param"] = null, ["code"] = 400 });
    }
}
