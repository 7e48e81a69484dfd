package ai

import (
	"encoding/json"
	"fmt"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

// The JSON schemas of what external providers return, one per task. They keep to the subset
// that strict structured-output modes accept (OpenAI's response_format json_schema with
// strict: true, and the grammar-constrained modes of vLLM, Ollama and LocalAI): every object
// lists all its properties as required and forbids others, enums name the allowed values,
// bounds are minimum and maximum. What a schema cannot say (lengths, parameters per action)
// the parsers of this package check; an answer that passes the schema can still be refused.

type schemaNode = map[string]any

func object(desc string, props ...any) schemaNode {
	properties := schemaNode{}
	var required []string
	for i := 0; i+1 < len(props); i += 2 {
		name := props[i].(string)
		properties[name] = props[i+1]
		required = append(required, name)
	}
	return schemaNode{"type": "object", "description": desc, "properties": properties, "required": required, "additionalProperties": false}
}

func str(desc string) schemaNode { return schemaNode{"type": "string", "description": desc} }

func enum[T ~string](desc string, values []T) schemaNode {
	return schemaNode{"type": "string", "description": desc, "enum": values}
}

func unit(desc string) schemaNode {
	return schemaNode{"type": "number", "description": desc, "minimum": 0, "maximum": 1}
}

func array(desc string, items schemaNode) schemaNode {
	return schemaNode{"type": "array", "description": desc, "items": items}
}

func remediationSchema() schemaNode {
	return object("One remediation the spoke can execute.",
		"action", enum("The action type.", actionTypes()),
		"target", object("The object to act on, in the incident's namespace: a Deployment, StatefulSet or DaemonSet for workload actions, a Pod for DeletePod, a HorizontalPodAutoscaler for PatchHPA.",
			"kind", str("Kind of the object, e.g. Deployment."),
			"namespace", str("Namespace of the object."),
			"name", str("Name of the object.")),
		"parameters", array("Parameters of the action: RollbackWorkload toRevision; ScaleWorkload replicas (0 to 10000); SetResources container, cpuRequest, cpuLimit, memoryRequest, memoryLimit (quantities); DeletePod gracePeriodSeconds; PatchHPA minReplicas, maxReplicas; ApplyManifests manifests (YAML); any action verifyTimeout, verifyStableFor (durations). Empty when none.",
			object("One parameter.", "name", str("Parameter name."), "value", str("Parameter value, as a string."))),
		"rationale", str("Why this fix, in one or two sentences."),
		"confidence", unit("Probability from 0 to 1 that the fix resolves the incident."))
}

func actionTypes() []string {
	out := make([]string, 0, len(aiopsv1alpha1.AllActionTypes))
	for _, a := range aiopsv1alpha1.AllActionTypes {
		out = append(out, string(a))
	}
	return out
}

func schemaFor(t Task) (schemaNode, error) {
	switch t {
	case TaskDiagnose:
		return object("The diagnosis of one Kubernetes incident.",
			"category", enum("Root-cause category.", Categories()),
			"symptom", enum("What failed; the same as category unless the root cause is BadRollout.", Categories()),
			"confidence", unit("Confidence in the root cause, 0 to 1."),
			"hypothesis", str("The root cause in one or two sentences."),
			"remediations", array("Candidate remediations, best first; empty when none applies.", remediationSchema())), nil
	case TaskPlan:
		return object("A remediation plan for one Kubernetes incident.",
			"summary", str("What is proposed and why, in one or two sentences."),
			"remediations", array("Remediations, best first; empty when none applies.", remediationSchema())), nil
	case TaskManifests:
		return object("The Kubernetes manifests of one application.",
			"manifests", str("YAML documents separated by ---: one Deployment, its Service, and where asked Ingress, HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy.")), nil
	case TaskExplain:
		return object("An explanation for people.",
			"summary", str("A short paragraph."),
			"points", array("The facts behind the summary, one sentence each; empty when none.", str("One fact."))), nil
	case TaskAnswer:
		return object("An answer to a question about the fleet.",
			"answer", str("The answer in a few sentences."),
			"facts", array("The facts the answer rests on, one per entry; empty when none.", str("One fact."))), nil
	}
	return nil, fmt.Errorf("no schema for task %q", t)
}

// Schema is the JSON schema of what an external provider returns for task t, freshly encoded
// (the caller may keep or change it): DiagnosisProposal for diagnose, PlanProposal for plan,
// ManifestsProposal for manifests, ExplainAnswer for explain and QuestionAnswer's answer and
// facts for answer. Parse the answer with ParseDiagnosis, ParsePlan, ParseManifestsAnswer,
// ParseExplanation or ParseQuestionAnswer.
func Schema(t Task) ([]byte, error) {
	s, err := schemaFor(t)
	if err != nil {
		return nil, err
	}
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	return json.Marshal(s) // maps encode with sorted keys: the bytes are stable
}

// SchemaName is a name for the schema of task t where an API wants one (OpenAI's
// json_schema.name: letters, digits, underscores and dashes).
func SchemaName(t Task) string { return "kubedevaiops_" + string(t) }
