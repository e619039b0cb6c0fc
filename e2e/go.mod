module github.com/crewtrace/crewtrace/e2e

go 1.26.0

replace github.com/crewtrace/crewtrace => ..

require github.com/stretchr/testify v1.12.1

require go.yaml.in/yaml/v3 v3.0.6 // indirect
