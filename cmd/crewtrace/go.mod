module github.com/crewtrace/crewtrace/cmd/crewtrace

go 1.26.0

replace github.com/crewtrace/crewtrace => ../..

replace github.com/crewtrace/crewtrace/store => ../../store

require github.com/stretchr/testify v1.12.1

require go.yaml.in/yaml/v3 v3.0.5 // indirect
