using System.Text.Json.Nodes;

namespace PgMultiMaster.Tests.Charts;

/// <summary>
/// values.schema.json on the production-safety values: no anonymous API by accident, TLS and passfile Secrets,
/// extra volumes, and the NetworkPolicy. Each refusal is expected at the path `helm install` would name.
/// </summary>
public sealed class SecurityValuesTests
{
    private static JsonObject With(string json) => ChartValues.Merge(ChartValues.Defaults(), JsonNode.Parse(json)!.AsObject());

    [Fact]
    public void The_defaults_need_an_access_token_secret_and_show_row_values()
    {
        var monitoring = ChartValues.Defaults()["monitoring"]!;
        Assert.Equal("pgmm-access-token", (string?)monitoring["accessTokenSecret"]!["name"]);
        Assert.Equal("token", (string?)monitoring["accessTokenSecret"]!["key"]);
        Assert.False((bool)monitoring["allowAnonymous"]!);
        Assert.True((bool)monitoring["showRowValues"]!);
        var defaults = ChartValues.Defaults();
        Assert.Equal("", (string?)defaults["tls"]!["existingSecret"]);
        Assert.Equal("", (string?)defaults["passfile"]!["existingSecret"]);
        Assert.False((bool)defaults["networkPolicy"]!["enabled"]!);
        Assert.False((bool)defaults["networkPolicy"]!["egress"]!["enabled"]!);
        Assert.Equal([5432L], defaults["networkPolicy"]!["egress"]!["ports"]!.AsArray().Select(p => (long)p!));
    }

    [Fact]
    public void Without_a_token_secret_the_values_are_refused_at_monitoring()
    {
        // null is how a values file removes a default (Helm deletes the key).
        ChartValues.AssertInvalidAt(With("""{ "monitoring": { "accessTokenSecret": null } }"""), "/monitoring", "accessTokenSecret");
    }

    [Fact]
    public void An_empty_token_secret_is_refused_at_the_secret_unless_anonymous_access_is_allowed()
    {
        var values = ChartValues.Defaults();
        values["monitoring"]!["accessTokenSecret"] = new JsonObject();
        ChartValues.AssertInvalidAt(values, "/monitoring/accessTokenSecret", "name");
        values["monitoring"]!["allowAnonymous"] = true;
        ChartValues.AssertValid(values);
    }

    [Fact]
    public void Anonymous_access_without_a_token_is_accepted_only_when_allowed()
    {
        ChartValues.AssertValid(With("""{ "monitoring": { "accessTokenSecret": null, "allowAnonymous": true } }"""));
        ChartValues.AssertInvalidAt(With("""{ "monitoring": { "accessTokenSecret": null, "allowAnonymous": false } }"""), "/monitoring", "accessTokenSecret");
    }

    [Fact]
    public void A_token_secret_and_anonymous_access_together_are_accepted()
    {
        ChartValues.AssertValid(With("""{ "monitoring": { "allowAnonymous": true, "showRowValues": false } }"""));
    }

    [Fact]
    public void Production_values_with_tls_passfile_extra_volumes_and_a_network_policy_are_accepted()
    {
        ChartValues.AssertValid(With("""
            {
              "tls": { "existingSecret": "pgmm-tls" },
              "passfile": { "existingSecret": "pgmm-pgpass", "key": ".pgpass" },
              "extraVolumes": [ { "name": "vault-pg", "csi": { "driver": "secrets-store.csi.k8s.io", "readOnly": true } } ],
              "extraVolumeMounts": [ { "name": "vault-pg", "mountPath": "/etc/pgmm/vault", "readOnly": true } ],
              "networkPolicy": {
                "enabled": true,
                "ingressFrom": [
                  { "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "monitoring" } },
                    "podSelector": { "matchLabels": { "app.kubernetes.io/name": "prometheus" } } },
                  { "namespaceSelector": { "matchExpressions": [ { "key": "team", "operator": "In", "values": ["edge"] } ] } }
                ],
                "egress": { "enabled": true, "to": [ { "ipBlock": { "cidr": "10.20.0.0/16", "except": ["10.20.9.0/24"] } } ], "ports": [5432, 6432] }
              }
            }
            """));
    }

    [Theory]
    [InlineData("""{ "monitoring": { "allowAnonymous": "true" } }""", "/monitoring/allowAnonymous", "type")]
    [InlineData("""{ "monitoring": { "showRowValues": 0 } }""", "/monitoring/showRowValues", "type")]
    [InlineData("""{ "monitoring": { "showRowValues": null } }""", "/monitoring", "showRowValues")]
    [InlineData("""{ "tls": { "existingSecret": true } }""", "/tls/existingSecret", null)]
    [InlineData("""{ "tls": { "existingSecret": "PgMM_TLS" } }""", "/tls/existingSecret", null)]
    [InlineData("""{ "passfile": { "existingSecret": "pgmm-pgpass", "key": "" } }""", "/passfile/key", "pattern")]
    [InlineData("""{ "extraVolumes": { "name": "x" } }""", "/extraVolumes", "type")]
    [InlineData("""{ "extraVolumes": [ { "name": "vault" } ] }""", "/extraVolumes/0", "minProperties")]
    [InlineData("""{ "extraVolumes": [ { "name": "tmp", "emptyDir": {} } ] }""", "/extraVolumes/0/name", null)]
    [InlineData("""{ "extraVolumeMounts": [ { "name": "vault" } ] }""", "/extraVolumeMounts/0", "mountPath")]
    [InlineData("""{ "extraVolumeMounts": [ { "name": "vault", "mountPath": "etc/vault" } ] }""", "/extraVolumeMounts/0/mountPath", "pattern")]
    [InlineData("""{ "networkPolicy": { "enabled": "yes" } }""", "/networkPolicy/enabled", "type")]
    [InlineData("""{ "networkPolicy": { "ingressFrom": [ {} ] } }""", "/networkPolicy/ingressFrom/0", "minProperties")]
    [InlineData("""{ "networkPolicy": { "ingressFrom": [ { "ipBlock": { "except": [] } } ] } }""", "/networkPolicy/ingressFrom/0/ipBlock", "cidr")]
    [InlineData("""{ "networkPolicy": { "ingressFrom": [ { "ipBlock": { "cidr": "10.0.0.0" } } ] } }""", "/networkPolicy/ingressFrom/0/ipBlock/cidr", "pattern")]
    [InlineData("""{ "networkPolicy": { "ingressFrom": [ { "podSelector": { "matchExpressions": [ { "key": "a", "operator": "Equals" } ] } } ] } }""", "/networkPolicy/ingressFrom/0/podSelector/matchExpressions/0/operator", "enum")]
    [InlineData("""{ "networkPolicy": { "egress": { "ports": [] } } }""", "/networkPolicy/egress/ports", "minItems")]
    [InlineData("""{ "networkPolicy": { "egress": { "ports": [70000] } } }""", "/networkPolicy/egress/ports/0", "maximum")]
    [InlineData("""{ "networkPolicy": { "egress": { "ports": ["5432"] } } }""", "/networkPolicy/egress/ports/0", "type")]
    public void Bad_types_and_values_are_refused_where_they_are(string json, string location, string? mentioning)
    {
        ChartValues.AssertInvalidAt(With(json), location, mentioning);
    }

    [Theory]
    [InlineData("""{ "monitoring": { "allowAnonymus": true } }""", "/monitoring/allowAnonymus")]
    [InlineData("""{ "tls": { "mountPath": "/tls" } }""", "/tls/mountPath")]
    [InlineData("""{ "tls": { "caKey": "ca.pem" } }""", "/tls/caKey")]
    [InlineData("""{ "passfile": { "path": "/pgpass" } }""", "/passfile/path")]
    [InlineData("""{ "extraVolumeMounts": [ { "name": "v", "mountPath": "/v", "readonly": true } ] }""", "/extraVolumeMounts/0/readonly")]
    [InlineData("""{ "networkPolicy": { "ingress": [] } }""", "/networkPolicy/ingress")]
    [InlineData("""{ "networkPolicy": { "egress": { "cidr": "10.0.0.0/8" } } }""", "/networkPolicy/egress/cidr")]
    [InlineData("""{ "networkPolicy": { "ingressFrom": [ { "namespaceSelectors": {} } ] } }""", "/networkPolicy/ingressFrom/0/namespaceSelectors")]
    [InlineData("""{ "networkPolicy": { "ingressFrom": [ { "podSelector": { "matchLabel": { "a": "b" } } } ] } }""", "/networkPolicy/ingressFrom/0/podSelector/matchLabel")]
    [InlineData("""{ "tlsSecret": "pgmm-tls" }""", "/tlsSecret")]
    public void Unknown_keys_are_refused_by_name(string json, string location)
    {
        ChartValues.AssertInvalidAt(With(json), location);
    }
}
