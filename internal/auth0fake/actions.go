package auth0fake

import (
	"net/http"
	"slices"
	"time"
)

// Action is the fake's record of an Action.
type Action struct {
	ID             string
	Name           string
	Code           string
	Runtime        string
	Trigger        string
	TriggerVersion string
	Secrets        map[string]string
	// Status is "pending", "building" or "built", as Auth0 reports a
	// build; AllChangesDeployed is false from a change to its deploy.
	Status             string
	AllChangesDeployed bool
	Versions           []ActionVersion
	// Updates counts the PATCH calls the Action received.
	Updates int
	// reads counts reads since the last change, to move status
	// pending -> building -> built as Auth0 does.
	reads int
}

// ActionVersion is one deployed version of an Action.
type ActionVersion struct {
	ID       string
	Number   int
	Code     string
	Runtime  string
	Secrets  []string
	Deployed bool
}

// Binding is an Action bound to a trigger.
type Binding struct {
	ID          string
	ActionID    string
	DisplayName string
}

// AddBinding binds an existing action (e.g. another team's) to a trigger,
// creating a deployed action of that name when actionID is unknown.
func (s *Server) AddBinding(trigger, actionID, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.actions[actionID]; !ok {
		s.actions[actionID] = &Action{ID: actionID, Name: name, Code: "exports.onExecutePostLogin = async () => {};", Runtime: "node22",
			Trigger: trigger, TriggerVersion: "v3", Secrets: map[string]string{}, Status: "built", AllChangesDeployed: true,
			Versions: []ActionVersion{{ID: s.nextID("ver_"), Number: 1, Deployed: true}}}
		s.actionOrder = append(s.actionOrder, actionID)
	}
	s.bindings[trigger] = append(s.bindings[trigger], Binding{ID: s.nextID("bnd_"), ActionID: actionID, DisplayName: name})
}

// Actions returns copies of the actions, in creation order.
func (s *Server) Actions() []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Action
	for _, id := range s.actionOrder {
		if a, ok := s.actions[id]; ok {
			c := *a
			c.Secrets = make(map[string]string, len(a.Secrets))
			for k, v := range a.Secrets {
				c.Secrets[k] = v
			}
			c.Versions = slices.Clone(a.Versions)
			out = append(out, c)
		}
	}
	return out
}

// Bindings returns a trigger's bindings in order.
func (s *Server) Bindings(trigger string) []Binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bindings[trigger])
}

type triggerJSON struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

type secretJSON struct {
	Name      string  `json:"name"`
	Value     *string `json:"value,omitempty"`
	UpdatedAt string  `json:"updated_at,omitempty"`
}

type actionBody struct {
	Name              *string        `json:"name"`
	SupportedTriggers []triggerJSON  `json:"supported_triggers"`
	Code              *string        `json:"code"`
	Runtime           *string        `json:"runtime"`
	Secrets           *[]secretJSON  `json:"secrets"`
	Deploy            *bool          `json:"deploy"`
	Dependencies      *[]interface{} `json:"dependencies"`
}

func stamp() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func (s *Server) actionJSON(a *Action) map[string]any {
	secrets := []map[string]any{}
	names := make([]string, 0, len(a.Secrets))
	for n := range a.Secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		secrets = append(secrets, map[string]any{"name": n, "updated_at": "2025-01-13T06:20:55.322282673Z"})
	}
	out := map[string]any{
		"id": a.ID, "name": a.Name, "code": a.Code, "runtime": a.Runtime, "status": a.Status,
		"supported_triggers": []triggerJSON{{ID: a.Trigger, Version: a.TriggerVersion}},
		"dependencies":       []any{}, "secrets": secrets, "all_changes_deployed": a.AllChangesDeployed,
		"created_at": "2025-01-13T06:20:55.301776679Z", "updated_at": stamp(),
	}
	for _, v := range a.Versions {
		if v.Deployed {
			out["deployed_version"] = s.versionJSON(a, v)
		}
	}
	return out
}

func (s *Server) versionJSON(a *Action, v ActionVersion) map[string]any {
	secrets := []map[string]any{}
	for _, n := range v.Secrets {
		secrets = append(secrets, map[string]any{"name": n})
	}
	return map[string]any{
		"id": v.ID, "number": v.Number, "code": v.Code, "runtime": v.Runtime, "deployed": v.Deployed,
		"status": "built", "secrets": secrets, "dependencies": []any{},
		"supported_triggers": []triggerJSON{{ID: a.Trigger, Version: a.TriggerVersion}},
		"created_at":         "2025-01-13T06:20:55.338500320Z", "updated_at": stamp(),
		"action": map[string]any{"id": a.ID, "name": a.Name, "all_changes_deployed": a.AllChangesDeployed},
	}
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("actionName")
	trigger := r.URL.Query().Get("triggerId")
	page, perPage := pageParams(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []map[string]any
	for _, id := range s.actionOrder {
		a, ok := s.actions[id]
		if !ok || (name != "" && a.Name != name) || (trigger != "" && a.Trigger != trigger) {
			continue
		}
		match = append(match, s.actionJSON(a))
	}
	out := paginate(match, page, perPage)
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"actions": out, "total": len(match), "per_page": perPage})
}

func (s *Server) createAction(w http.ResponseWriter, r *http.Request) {
	var body actionBody
	if !decode(w, r, &body) {
		return
	}
	if body.Name == nil || *body.Name == "" || body.Code == nil || len(body.SupportedTriggers) != 1 {
		apiError(w, http.StatusBadRequest, "Bad Request", "Payload validation error: name, code and exactly one supported trigger are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.actions {
		if a.Name == *body.Name {
			apiError(w, http.StatusConflict, "Conflict", "An action with this name already exists.")
			return
		}
	}
	a := &Action{ID: s.nextID("act-"), Name: *body.Name, Code: *body.Code, Runtime: "node18",
		Trigger: body.SupportedTriggers[0].ID, TriggerVersion: body.SupportedTriggers[0].Version,
		Secrets: map[string]string{}, Status: "pending"}
	if body.Runtime != nil {
		a.Runtime = *body.Runtime
	}
	if body.Secrets != nil {
		for _, sec := range *body.Secrets {
			if sec.Value != nil {
				a.Secrets[sec.Name] = *sec.Value
			}
		}
	}
	s.actions[a.ID] = a
	s.actionOrder = append(s.actionOrder, a.ID)
	writeJSON(w, http.StatusCreated, s.actionJSON(a))
}

func (s *Server) action(w http.ResponseWriter, r *http.Request) (*Action, bool) {
	a, ok := s.actions[r.PathValue("id")]
	if !ok {
		apiError(w, http.StatusNotFound, "Not Found", "That action does not exist.")
	}
	return a, ok
}

// readAction moves a changed action through pending, building and built,
// one step per read, as the recordings show.
func (s *Server) readAction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.action(w, r)
	if !ok {
		return
	}
	if a.Status != "built" {
		a.reads++
		if a.reads > s.BuildReads {
			a.Status = "built"
		} else {
			a.Status = "building"
		}
	}
	writeJSON(w, http.StatusOK, s.actionJSON(a))
}

func (s *Server) updateAction(w http.ResponseWriter, r *http.Request) {
	var body actionBody
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.action(w, r)
	if !ok {
		return
	}
	if body.Name != nil {
		a.Name = *body.Name
	}
	if body.Code != nil {
		a.Code = *body.Code
	}
	if body.Runtime != nil {
		a.Runtime = *body.Runtime
	}
	if len(body.SupportedTriggers) == 1 {
		a.Trigger, a.TriggerVersion = body.SupportedTriggers[0].ID, body.SupportedTriggers[0].Version
	}
	if body.Secrets != nil {
		// The list replaces the secrets; one sent without a value keeps it.
		next := map[string]string{}
		for _, sec := range *body.Secrets {
			if sec.Value != nil {
				next[sec.Name] = *sec.Value
			} else if old, ok := a.Secrets[sec.Name]; ok {
				next[sec.Name] = old
			}
		}
		a.Secrets = next
	}
	a.Status, a.reads, a.AllChangesDeployed = "pending", 0, false
	a.Updates++
	writeJSON(w, http.StatusOK, s.actionJSON(a))
}

func (s *Server) deleteAction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.action(w, r)
	if !ok {
		return
	}
	delete(s.actions, a.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deployAction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.action(w, r)
	if !ok {
		return
	}
	if a.Status != "built" {
		apiError(w, http.StatusBadRequest, "Bad Request", "The action must be built before it is deployed.")
		return
	}
	for i := range a.Versions {
		a.Versions[i].Deployed = false
	}
	names := make([]string, 0, len(a.Secrets))
	for n := range a.Secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	v := ActionVersion{ID: s.nextID("ver-"), Number: len(a.Versions) + 1, Code: a.Code, Runtime: a.Runtime, Secrets: names, Deployed: true}
	a.Versions = append(a.Versions, v)
	a.AllChangesDeployed = true
	// Like the recording: the answer says deployed false, the version list
	// later says true.
	out := s.versionJSON(a, v)
	out["deployed"] = false
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) {
	page, perPage := pageParams(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.action(w, r)
	if !ok {
		return
	}
	var all []map[string]any
	for i := len(a.Versions) - 1; i >= 0; i-- {
		all = append(all, s.versionJSON(a, a.Versions[i]))
	}
	out := paginate(all, page, perPage)
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": out, "total": len(all), "per_page": perPage})
}

func (s *Server) bindingJSON(trigger string, b Binding) map[string]any {
	out := map[string]any{"id": b.ID, "trigger_id": trigger, "display_name": b.DisplayName,
		"created_at": "2023-01-25T17:42:15.192221899Z", "updated_at": "2023-01-25T17:42:15.192221899Z"}
	if a, ok := s.actions[b.ActionID]; ok {
		out["action"] = s.actionJSON(a)
	}
	return out
}

func (s *Server) getBindings(w http.ResponseWriter, r *http.Request) {
	trigger := r.PathValue("trigger")
	page, perPage := pageParams(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []map[string]any
	for _, b := range s.bindings[trigger] {
		all = append(all, s.bindingJSON(trigger, b))
	}
	out := paginate(all, page, perPage)
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bindings": out, "total": len(all), "per_page": perPage})
}

// actionByRef finds the first action a binding's ref names, by action_id
// or action_name; nil when none does.
func (s *Server) actionByRef(typ, value string) *Action {
	for _, id := range s.actionOrder {
		a, ok := s.actions[id]
		if ok && ((typ == "action_id" && a.ID == value) || (typ == "action_name" && a.Name == value)) {
			return a
		}
	}
	return nil
}

// patchBindings replaces the trigger's bindings with the list sent; each
// must name a deployed action by ID or name.
func (s *Server) patchBindings(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Bindings []struct {
			DisplayName string `json:"display_name"`
			Ref         *struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			} `json:"ref"`
		} `json:"bindings"`
	}
	if !decode(w, r, &body) {
		return
	}
	trigger := r.PathValue("trigger")
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []Binding
	for _, b := range body.Bindings {
		if b.Ref == nil {
			apiError(w, http.StatusBadRequest, "Bad Request", "Payload validation error: missing ref")
			return
		}
		found := s.actionByRef(b.Ref.Type, b.Ref.Value)
		if found == nil {
			apiError(w, http.StatusNotFound, "Not Found", "The action does not exist.")
			return
		}
		if !slices.ContainsFunc(found.Versions, func(v ActionVersion) bool { return v.Deployed }) {
			apiError(w, http.StatusBadRequest, "Bad Request", "The action must be deployed before it can be bound.")
			return
		}
		nb := Binding{ID: s.nextID("bnd-"), ActionID: found.ID, DisplayName: b.DisplayName}
		for _, old := range s.bindings[trigger] {
			if old.ActionID == found.ID {
				nb.ID = old.ID
			}
		}
		next = append(next, nb)
	}
	s.bindings[trigger] = next
	var out []map[string]any
	for _, b := range next {
		out = append(out, s.bindingJSON(trigger, b))
	}
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bindings": out})
}
