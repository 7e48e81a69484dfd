package main

import (
	"context"
	"fmt"

	"github.com/kubedevaiops/kubedevaiops/api/crds"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
)

func main() {
	objs, err := crds.Objects()
	if err != nil {
		panic(err)
	}
	for _, c := range objs {
		in := &apiextensions.CustomResourceDefinition{}
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(c, in, nil); err != nil {
			panic(err)
		}
		errs := validation.ValidateCustomResourceDefinition(context.Background(), in)
		fmt.Println(c.Name, len(errs))
		for _, e := range errs {
			fmt.Println("  ", e)
		}
	}
}
