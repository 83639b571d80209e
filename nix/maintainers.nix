# Who answers for the package and the module (meta.maintainers of both): the project's maintainers,
# as every commit of this repository names them.
{
  unified-llm = {
    name = "unified-llm maintainers";
    email = "maintainers@users.noreply.b-seed-951be3fc.example";
  };
}
