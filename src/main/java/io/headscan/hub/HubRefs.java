package io.headscan.hub;

import static io.headscan.hub.HubException.Kind.*;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A repository's branches and tags with the commit each points to: from the Hub API
 * ({@code GET {HF_ENDPOINT}/api/models/{repo}/refs}, what huggingface_hub's {@code list_repo_refs} reads), or, offline,
 * from the {@code refs/} folder of the local Hugging Face cache.
 */
public final class HubRefs {

    /** A branch or tag and its commit. */
    public record Ref(String name, String commit, boolean tag) {}

    private static final JsonFactory JSON = new JsonFactory();

    private HubRefs() {}

    public static List<Ref> list(HubEnvironment env, RepoId repo) {
        if (env.offline()) {
            Map<String, String> cached = new HfCache(env.cacheRoot()).refs(repo);
            if (cached.isEmpty()) {
                throw new HubException(OFFLINE_NOT_CACHED, "HF_HUB_OFFLINE is set and the Hugging Face cache at " + env.cacheRoot()
                        + " records no branches of " + repo.canonical());
            }
            List<Ref> out = new ArrayList<>();
            cached.forEach((name, commit) -> out.add(new Ref(name, commit, false)));
            return out;
        }
        URI url = URI.create(env.endpoint() + "/api/models/" + repo.canonical() + "/refs");
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(15)).followRedirects(HttpClient.Redirect.NORMAL).build();
        HttpRequest.Builder rb = HttpRequest.newBuilder(url).GET().header("User-Agent", "headscan").timeout(Duration.ofSeconds(60));
        env.token().ifPresent(t -> rb.header("Authorization", "Bearer " + t));
        HttpResponse<byte[]> r;
        try {
            r = http.send(rb.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (ConnectException | HttpTimeoutException e) {
            throw new HubException(NETWORK, "cannot reach " + env.endpoint() + " to list the branches of " + repo.canonical() + " ("
                    + e.getClass().getSimpleName() + ")", e);
        } catch (IOException e) {
            throw new HubException(NETWORK, "network error listing the branches of " + repo.canonical() + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException(NETWORK, "interrupted while listing the branches of " + repo.canonical(), e);
        }
        int status = r.statusCode();
        if (status == 404) throw new HubException(REPO_NOT_FOUND, "no model repository '" + repo.canonical() + "' on " + env.endpoint());
        if (status == 401 || status == 403) {
            throw new HubException(UNAUTHORIZED, "listing the branches of " + repo.canonical() + " was refused (HTTP " + status + ")"
                    + (env.token().isEmpty() ? ": set HF_TOKEN if it is private or gated" : ""));
        }
        if (status == 429) throw new HubException(NETWORK, "the Hub rate-limited the branch listing of " + repo.canonical() + " (HTTP 429): wait and run again");
        if (status != 200) throw new HubException(BAD_RESPONSE, "HTTP " + status + " listing the branches of " + repo.canonical());
        return parse(r.body(), repo);
    }

    static List<Ref> parse(byte[] body, RepoId repo) {
        List<Ref> out = new ArrayList<>();
        try (JsonParser p = JSON.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw bad(repo, "not a JSON object");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken v = p.nextToken();
                if ((field.equals("branches") || field.equals("tags")) && v == JsonToken.START_ARRAY) {
                    while (p.nextToken() == JsonToken.START_OBJECT) {
                        String name = null, commit = null;
                        while (p.nextToken() == JsonToken.FIELD_NAME) {
                            String k = p.currentName();
                            JsonToken t = p.nextToken();
                            if (k.equals("name") && t == JsonToken.VALUE_STRING) name = p.getText();
                            else if (k.equals("targetCommit") && t == JsonToken.VALUE_STRING) commit = p.getText();
                            else p.skipChildren();
                        }
                        if (name == null || commit == null || !HfCache.COMMIT.matcher(commit).matches()) {
                            throw bad(repo, "a ref without a name or a 40-hex targetCommit");
                        }
                        out.add(new Ref(name, commit, field.equals("tags")));
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw bad(repo, "not valid JSON (" + e.getMessage() + ")");
        }
        return out;
    }

    private static HubException bad(RepoId repo, String why) {
        return new HubException(BAD_RESPONSE, "the Hub's refs answer for " + repo.canonical() + " is " + why);
    }
}
