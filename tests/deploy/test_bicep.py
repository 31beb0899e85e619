"""The template as pycep-parser (checkov's own Bicep front end) reads it: what `azd up` would create."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.deploy.tooling import INFRA, ROOT, bicep, bicep_files, parsed_bicep

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
COGNITIVE_SERVICES_OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"


def decorator(parameter: dict[str, Any], kind: str) -> Any:
    return next(item["argument"] for item in parameter["decorators"] if item["type"] == kind)


def test_every_bicep_file_parses() -> None:
    parsed = parsed_bicep()
    assert set(parsed) == {str(path.relative_to(ROOT)) for path in bicep_files()}
    assert len(parsed) >= 7 and all(tree.get("resources") or tree.get("modules") for tree in parsed.values())


def test_every_module_reference_points_at_a_file() -> None:
    for name, tree in parsed_bicep().items():
        for module in tree.get("modules", {}).values():
            path = module["detail"]["path"]
            assert ((ROOT / name).parent / path).exists(), f"{name} uses module {path}, which does not exist"


def test_python_is_311_by_default_and_only_versions_the_project_tests() -> None:
    version = bicep("infra/main.bicep")["parameters"]["pythonVersion"]
    assert version["default"] == "3.11"
    assert decorator(version, "allowed") == ["3.11", "3.12"]


def test_the_app_runs_on_flex_consumption_with_a_warm_durable_group() -> None:
    tree = bicep("infra/modules/function.bicep")
    plan = tree["resources"]["plan"]["config"]
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    config = tree["resources"]["app"]["config"]["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    always_ready = config["scaleAndConcurrency"]["alwaysReady"]["operator"]["operands"]["true_value"]
    assert always_ready == [{"name": "durable", "instanceCount": "durableAlwaysReady"}]
    assert bicep("infra/main.bicep")["parameters"]["durableAlwaysReady"]["default"] >= 1
    deployment = config["deployment"]["storage"]
    assert deployment["type"] == "blobContainer" and deployment["authentication"]["type"] == "UserAssignedIdentity"


def test_the_host_storage_refuses_keys_and_the_identity_has_exactly_the_host_roles() -> None:
    tree = bicep("infra/modules/storage.bicep")
    host = tree["resources"]["host"]["config"]["properties"]
    assert host["allowSharedKeyAccess"] is False and host["allowBlobPublicAccess"] is False
    assert host["minimumTlsVersion"] == "TLS1_2"
    roles = set(tree["variables"]["hostRoles"]["value"].values())
    assert roles == {STORAGE_BLOB_DATA_OWNER, STORAGE_QUEUE_DATA_CONTRIBUTOR, STORAGE_TABLE_DATA_CONTRIBUTOR}
    # The key-enabled account holds only the share: no containers, queues or tables on it.
    parents = {name: r["config"].get("parent") for name, r in tree["resources"].items()}
    assert sorted(name for name, parent in parents.items() if parent == "files") == ["fileService"]
    assert sorted(name for name, parent in parents.items() if parent == "fileService") == ["tasksShare"]
    assert tree["resources"]["files"]["config"]["properties"]["allowSharedKeyAccess"] is True


def test_the_task_files_container_exists_and_the_identity_may_write_it() -> None:
    tree = bicep("infra/modules/storage.bicep")
    container = tree["resources"]["taskFilesContainer"]["config"]
    assert container["parent"] == "blobs" and container["properties"]["publicAccess"] == "None"
    assert tree["parameters"]["taskFilesContainerName"]["default"] == "task-files"
    role = tree["resources"]["taskFilesRole"]["config"]
    assert role["scope"] == "taskFilesContainer"
    assert tree["variables"]["storageBlobDataContributor"]["value"] == "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    settings = bicep("infra/modules/function.bicep")["variables"]["taskSettings"]["value"]
    assert settings["TASK_FILES_CONNECTION"] == "AzureWebJobsStorage"  # the host's account, by identity
    assert settings["TASK_FILES_CONTAINER"] == "taskFilesContainerName"


def test_the_model_is_called_with_the_openai_user_role_and_never_a_key() -> None:
    access = bicep("infra/modules/openai-access.bicep")
    assert access["variables"]["cognitiveServicesOpenAiUser"]["value"] == COGNITIVE_SERVICES_OPENAI_USER
    created = bicep("infra/modules/openai.bicep")["resources"]["account"]["config"]["properties"]
    assert created["disableLocalAuth"] is True
    # Granted on the account the template creates, or on the one you bring (main.bicep).
    assert bicep("infra/resources.bicep")["modules"]["openAiAccess"]["detail"]["path"] == "modules/openai-access.bicep"
    assert bicep("infra/main.bicep")["modules"]["byoOpenAiAccess"]["detail"]["path"] == "modules/openai-access.bicep"


def test_telemetry_goes_by_identity() -> None:
    insights = bicep("infra/modules/monitoring.bicep")["resources"]["appInsights"]["config"]["properties"]
    assert insights["DisableLocalAuth"] is True and insights["WorkspaceResourceId"]
    settings = bicep("infra/modules/function.bicep")["variables"]["monitoringSettings"]["value"]
    assert "Authorization=AAD" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]


def test_azd_parameters_name_only_parameters_main_declares() -> None:
    declared = set(bicep("infra/main.bicep")["parameters"])
    given = set(json.loads((INFRA / "main.parameters.json").read_text())["parameters"])
    assert given <= declared, f"main.parameters.json passes unknown parameters: {sorted(given - declared)}"


def test_the_durable_task_scheduler_host_json_differs_from_host_json_only_in_its_backend() -> None:
    current = json.loads((ROOT / "host.json").read_text())
    alternative = json.loads((INFRA / "host.durable-task-scheduler.json").read_text())
    durable = alternative["extensions"]["durableTask"]
    assert durable.pop("storageProvider") == {
        "type": "azureManaged",
        "connectionStringName": "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
    }
    assert durable.pop("hubName") == "%TASKHUB_NAME%"
    current["extensions"]["durableTask"].pop("hubName")
    # The Azure Storage provider's own tuning (queue polling) has no meaning for the scheduler.
    current["extensions"]["durableTask"].pop("storageProvider")
    assert alternative == current, "infra/host.durable-task-scheduler.json drifted from host.json: regenerate it"
    scheduler = bicep("infra/modules/function.bicep")["variables"]["schedulerSettings"]["value"]
    names = set(scheduler["operator"]["operands"]["true_value"])
    assert names == {"DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "TASKHUB_NAME"}


def test_azure_yaml_deploys_this_folder_as_a_python_function_app() -> None:
    from tests.deploy.tooling import parse_yaml

    spec = parse_yaml(ROOT / "azure.yaml")["azure.yaml"]
    assert spec["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert spec["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    tags = bicep("infra/modules/function.bicep")["resources"]["app"]["config"]["tags"]["function"]["parameters"]
    assert {"'azd-service-name'": "api"} in tags.values(), "azd finds the app by its azd-service-name tag"
    assert Path(ROOT / "requirements.txt").exists()
