using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// One /v1/responses turn, ready for the pipeline: the response being made, the chat request that makes it (null, with
/// <paramref name="Untranslatable"/> saying why, when only a target that speaks the Responses API can serve it), and
/// the Responses API request such a target gets instead.
/// </summary>
internal sealed record ResponsesTurn(ResponseDraft Draft, JsonObject? Chat, JsonObject Native, GatewayException? Untranslatable);

/// <summary>
/// What /v1/responses adds to the chat pipeline: the previous_response_id chain read back (the caller's own stored
/// responses only), the context check on it, storing the finished response, and reading, listing and deleting stored ones.
/// The owner of a stored response is the API key that made it; without a key, the anonymous principal.
/// </summary>
internal sealed class ResponsesService(ResponseStore store, ModelRouter router, ConfigHolder config, TimeProvider time)
{
    /// <summary>The longest previous_response_id chain ullmd follows.</summary>
    public const int MaxChain = 1000;

    public async Task<ResponsesTurn> PrepareAsync(ClientIdentity client, JsonObject body, CancellationToken cancellationToken)
    {
        // A request ullmd cannot translate still goes to a target that speaks the Responses API, where there is one.
        var items = ResponsesRequest.Parse(body, translating: false);
        var nativeTarget = router.Plan(items.Model)?.Targets.Any(t => ProxyPipeline.SpeaksNatively(t, WireFormat.Responses)) == true;
        GatewayException? untranslatable = null;
        ResponsesRequest request;
        try
        {
            request = ResponsesRequest.Parse(body);
        }
        catch (GatewayException e) when (nativeTarget)
        {
            (request, untranslatable) = (items, e);
        }

        var history = request.PreviousResponseId is { } previous ? await ChainAsync(client, previous, cancellationToken) : [];
        JsonObject? chat = null;
        if (untranslatable is null)
        {
            try
            {
                chat = ResponsesTranslator.ToChat(request, history);
            }
            catch (GatewayException e) when (nativeTarget)
            {
                untranslatable = e;
            }
        }

        if (chat is not null)
        {
            CheckContext(request, chat);
        }

        var native = NativeRequest(body, history);
        var id = "resp_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var draft = new ResponseDraft(id, time.GetUtcNow(), request, request.Store ?? config.Current.Responses.StoreByDefault);
        NameInputItems(draft);
        return new ResponsesTurn(draft, chat, native, untranslatable);
    }

    /// <summary>Stores a finished response (completed or incomplete) when the request asked for it.</summary>
    public async Task SaveAsync(ClientIdentity client, ResponseDraft draft, JsonObject response, CancellationToken cancellationToken)
    {
        if (!draft.Store)
        {
            return;
        }

        var usage = response["usage"];
        try
        {
            await store.InsertAsync(new StoredResponse(
                draft.Id,
                client.Key?.Id,
                draft.Request.Model,
                draft.Request.PreviousResponseId,
                draft.CreatedAt,
                usage?["input_tokens"]?.GetValue<long>() ?? 0,
                usage?["output_tokens"]?.GetValue<long>() ?? 0,
                draft.Request.Input.ToJsonString(),
                response["output"]!.ToJsonString(),
                response.ToJsonString()), cancellationToken);
        }
        catch (SqliteException e)
        {
            throw new GatewayException(500, $"the response could not be stored: {e.Message} (send \"store\": false to skip storing)", code: "storage_error");
        }
    }

    public async Task<JsonObject> GetAsync(ClientIdentity client, string id, CancellationToken cancellationToken) =>
        JsonNode.Parse((await FindAsync(client, id, "id", cancellationToken)).ResponseJson)!.AsObject();

    public async Task<JsonObject> DeleteAsync(ClientIdentity client, string id, CancellationToken cancellationToken) =>
        await store.DeleteAsync(id, client.Key?.Id, NotBefore, cancellationToken)
            ? new JsonObject { ["id"] = id, ["object"] = "response", ["deleted"] = true }
            : throw NotFound(id, "id");

    /// <summary>
    /// A page of a stored response's input items, as OpenAI lists them: newest first unless <paramref name="order"/> is
    /// "asc", at most <paramref name="limit"/>, after or before the item with the given id.
    /// </summary>
    public async Task<JsonObject> InputItemsAsync(ClientIdentity client, string id, int limit, string order, string? after, string? before, CancellationToken cancellationToken)
    {
        var stored = await FindAsync(client, id, "id", cancellationToken);
        var items = JsonNode.Parse(stored.InputItemsJson)!.AsArray().Select(i => i!).ToList();
        if (order == "desc")
        {
            items.Reverse();
        }

        var start = 0;
        var end = items.Count;
        if (after is not null)
        {
            start = IndexOf(items, after, "after") + 1;
        }

        if (before is not null)
        {
            end = IndexOf(items, before, "before");
        }

        var page = items.Skip(start).Take(Math.Max(0, Math.Min(limit, end - start))).Select(i => i.DeepClone()).ToList();
        return new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray([.. page]),
            ["first_id"] = page.Count > 0 ? page[0]["id"]?.DeepClone() : null,
            ["last_id"] = page.Count > 0 ? page[^1]["id"]?.DeepClone() : null,
            ["has_more"] = start + page.Count < end,
        };
    }

    private DateTimeOffset NotBefore => time.GetUtcNow().AddDays(-config.Current.Responses.RetentionDays);

    private async Task<StoredResponse> FindAsync(ClientIdentity client, string id, string field, CancellationToken cancellationToken) =>
        await store.FindAsync(id, client.Key?.Id, NotBefore, cancellationToken) ?? throw NotFound(id, field);

    private GatewayException NotFound(string id, string field) => new(
        404,
        $"no stored response '{id}' for this caller: it was not stored (\"store\": false), was deleted, expired ([responses] retention_days = {config.Current.Responses.RetentionDays}), or belongs to another API key",
        field,
        "response_not_found");

    /// <summary>The items of the chain ending at <paramref name="previous"/>, oldest first: each response's input, then its output.</summary>
    private async Task<List<JsonNode>> ChainAsync(ClientIdentity client, string previous, CancellationToken cancellationToken)
    {
        var chain = new List<StoredResponse>();
        for (var id = previous; id is not null; id = chain[^1].PreviousResponseId)
        {
            if (chain.Count == MaxChain)
            {
                throw GatewayException.BadField("previous_response_id", $"the conversation is longer than {MaxChain} responses; start a new one");
            }

            chain.Add(await FindAsync(client, id, "previous_response_id", cancellationToken));
        }

        chain.Reverse();
        var items = new List<JsonNode>();
        foreach (var response in chain)
        {
            items.AddRange(JsonNode.Parse(response.InputItemsJson)!.AsArray().Select(i => i!.DeepClone()));
            items.AddRange(JsonNode.Parse(response.OutputItemsJson)!.AsArray().Select(i => i!.DeepClone()));
        }

        return items;
    }

    /// <summary>
    /// Refuses a conversation that cannot fit the model's configured context (where every target of the model's plan is a
    /// local model with a context set), by <see cref="ContextEstimate"/>'s count.
    /// </summary>
    private void CheckContext(ResponsesRequest request, JsonObject chat)
    {
        var current = config.Current;
        // An unknown model is the pipeline's 404 to give, after this check.
        if (router.Plan(request.Model) is not { } plan)
        {
            return;
        }

        var contexts = plan.Targets.Select(t => t.IsLocal && current.Models.TryGetValue(t.Model, out var m) ? m.Context : 0).ToList();
        if (contexts.Count == 0 || contexts.Any(c => c <= 0))
        {
            return;
        }

        var limit = contexts.Max();
        var estimate = ContextEstimate.Tokens(chat["messages"]!.AsArray());
        var output = request.MaxOutputTokens ?? 0;
        if (estimate + output > limit)
        {
            var field = request.PreviousResponseId is null ? "input" : "previous_response_id";
            var model = plan.Targets.Count == 1 ? plan.Targets[0].Model : request.Model;
            throw GatewayException.BadField(
                field,
                $"the conversation is about {estimate} tokens{(output > 0 ? $" plus max_output_tokens {output}" : "")}, more than the context of model '{model}' "
                + $"({limit} tokens, [models.{model}] context); start a new conversation (no previous_response_id) or shorten the input");
        }
    }

    /// <summary>
    /// The request for an upstream that speaks the Responses API: the client's body, but ullmd keeps the conversation —
    /// the previous_response_id chain goes as input items before the client's (without their ids, which that upstream
    /// never stored), and the upstream is asked not to store the response (ullmd does, when asked).
    /// </summary>
    private static JsonObject NativeRequest(JsonObject body, List<JsonNode> history)
    {
        var native = (JsonObject)body.DeepClone();
        native["store"] = false;
        if (history.Count == 0)
        {
            return native;
        }

        native.Remove("previous_response_id");
        var input = new JsonArray();
        foreach (var item in history.Where(i => Json.Text(i["type"]) is "message" or "function_call" or "function_call_output"))
        {
            var copy = (JsonObject)item.DeepClone();
            copy.Remove("id");
            copy.Remove("status");
            input.Add((JsonNode)copy);
        }

        if (native["input"] is JsonArray items)
        {
            foreach (var item in items.ToList())
            {
                items.Remove(item);
                input.Add(item);
            }
        }
        else
        {
            input.Add((JsonNode)new JsonObject { ["role"] = "user", ["content"] = native["input"]?.DeepClone() });
        }

        native["input"] = input;
        return native;
    }

    /// <summary>Gives every input item an id (as OpenAI lists them) and message content as parts, before it is stored.</summary>
    private static void NameInputItems(ResponseDraft draft)
    {
        var input = draft.Request.Input;
        for (var i = 0; i < input.Count; i++)
        {
            var item = input[i]!.AsObject();
            var type = Json.Text(item["type"]);
            if (type == "message" && Json.Text(item["content"]) is { } text)
            {
                var part = Json.Text(item["role"]) == "assistant" ? ResponseDraft.TextPart(text) : new JsonObject { ["type"] = "input_text", ["text"] = text };
                item["content"] = new JsonArray(part);
            }

            if (Json.Text(item["id"]) is null)
            {
                item["id"] = draft.ItemId(type switch { "message" => "msg", "function_call" => "fc", _ => "fco" }, i) + "_in";
            }
        }
    }

    private static int IndexOf(List<JsonNode> items, string id, string field)
    {
        var index = items.FindIndex(i => Json.Text(i["id"]) == id);
        return index >= 0 ? index : throw GatewayException.BadField(field, $"no input item '{id}' in this response");
    }
}
