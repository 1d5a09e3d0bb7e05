package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// OpenAPI is the API's description (CONTRACT §11), an OpenAPI 3 document
// written by hand; the package's tests check it against the router and
// every request and answer of the HTTP tests.
//
//go:embed openapi.json
var OpenAPI []byte

func openapiDoc(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", OpenAPI)
}
